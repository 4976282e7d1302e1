package sbs

import (
	"fmt"
	"unicode/utf8"
)

// tokenKind is the class of a schema token.
type tokenKind uint8

const (
	tokEOF tokenKind = iota
	tokIdent
	tokDot
	tokLParen
	tokRParen
	tokLBrace
	tokRBrace
	tokColon
	tokEquals
	// tokBadIdent is a word that starts like no identifier may: "1M",
	// "_T". Scanning it whole gives a better message than its first byte.
	tokBadIdent
	// tokOpenComment is a comment that reaches the end of the text without
	// a line break, which the grammar refuses.
	tokOpenComment
	// tokIllegal is one character that starts no token.
	tokIllegal
)

// token is one token of a schema text.
type token struct {
	kind tokenKind
	off  int    // byte offset of the first character
	text string // the token as written
	// spaced reports white space or a comment just before the token. The
	// grammar needs it between list items (definitions, entries, type
	// arguments), where "A = Tuple {}B = String" must be refused.
	spaced bool
}

// maxTokenShown is how much of a token an error message quotes.
const maxTokenShown = 24

// String describes the token for "expected X, found Y" messages, in the
// style of go/scanner: punctuation quoted, identifiers as written (and
// shortened), other characters by code point.
func (t token) String() string {
	switch t.kind {
	case tokEOF:
		return "end of text"
	case tokIdent, tokBadIdent:
		return shorten(t.text)
	case tokOpenComment:
		return "comment without a final line break"
	case tokIllegal:
		r, _ := utf8.DecodeRuneInString(t.text)
		if r == utf8.RuneError && len(t.text) <= 1 {
			return fmt.Sprintf("invalid byte %#02x", t.text[0])
		}
		if r < utf8.RuneSelf && r > ' ' && r != 0x7f {
			return fmt.Sprintf("'%c'", r)
		}
		return fmt.Sprintf("character %U", r)
	}
	return "'" + t.text + "'"
}

func shorten(s string) string {
	if len(s) <= maxTokenShown {
		return s
	}
	// Identifiers are ASCII, so any byte is a character boundary.
	return s[:maxTokenShown-3] + "..."
}

// scanner splits a schema text into tokens, in the manner of go/scanner:
// it never fails; what it cannot read becomes a token the parser refuses.
type scanner struct {
	text string
	off  int // next byte to read
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool  { return '0' <= c && c <= '9' }
func isIdentChar(c byte) bool {
	return isLetter(c) || isDigit(c) || c == '_'
}

// next returns the next token, skipping white space (space, tab, CR, LF and
// the comma) and comments.
func (s *scanner) next() token {
	spaced := false
	for s.off < len(s.text) {
		c := s.text[s.off]
		if c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ',' {
			s.off++
			spaced = true
			continue
		}
		if c != '#' {
			break
		}
		start := s.off
		for s.off < len(s.text) && s.text[s.off] != '\n' && s.text[s.off] != '\r' {
			s.off++
		}
		if s.off == len(s.text) {
			return token{kind: tokOpenComment, off: start, text: s.text[start:], spaced: spaced}
		}
		spaced = true // the line break ends the comment and is skipped next
	}
	start := s.off
	t := token{off: start, spaced: spaced}
	if s.off == len(s.text) {
		t.kind = tokEOF
		return t
	}
	c := s.text[s.off]
	switch {
	case isIdentChar(c):
		for s.off < len(s.text) && isIdentChar(s.text[s.off]) {
			s.off++
		}
		t.kind = tokIdent
		if !isLetter(c) {
			t.kind = tokBadIdent
		}
		t.text = s.text[start:s.off]
		return t
	case c < utf8.RuneSelf:
		s.off++
		t.text = s.text[start:s.off]
		t.kind = punctuation[c] // tokEOF (zero) when c is no punctuation
		if t.kind == tokEOF {
			t.kind = tokIllegal
		}
		return t
	}
	_, n := utf8.DecodeRuneInString(s.text[s.off:])
	s.off += n
	t.kind = tokIllegal
	t.text = s.text[start:s.off]
	return t
}

var punctuation = [utf8.RuneSelf]tokenKind{
	'.': tokDot,
	'(': tokLParen,
	')': tokRParen,
	'{': tokLBrace,
	'}': tokRBrace,
	':': tokColon,
	'=': tokEquals,
}
