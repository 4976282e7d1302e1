package sbs

import "fmt"

// maxTypeNesting bounds how deeply type expressions may nest, so that no
// text can make the recursive-descent parser (or anything walking its tree)
// recurse without limit.
const maxTypeNesting = 200

// Parse parses one schema text, the definition of one module, in either
// dialect. filename is used only in error positions. A syntax error is a
// *[SchemaError] wrapping [ErrSyntax]. Parse checks only the grammar: names
// are resolved, and duplicates refused, when a [Repository] is built.
func Parse(filename, text string) (*ModuleDef, error) {
	p := &parser{mod: &ModuleDef{Filename: filename, text: text}}
	p.sc = scanner{text: text}
	p.next()
	if err := p.parseModule(); err != nil {
		return nil, err
	}
	return p.mod, nil
}

// parser is a recursive-descent parser with one token of look-ahead over
// the schema grammar (the scanner folds white space, commas and comments
// into the gaps between tokens):
//
//	module     = "module" ident { definition } .
//	definition = ident [ "(" { ident } ")" ] "=" type .
//	type       = builtin | "Array" "(" type ")"
//	           | ( "Tuple" | "Record" | "Union" | "Choice" ) "{" { entry } "}"
//	           | ident [ "." ident ] [ "(" { type } ")" ] .
//	entry      = ident ":" type .
type parser struct {
	mod   *ModuleDef
	sc    scanner
	tok   token
	depth int // nesting of type expressions
}

func (p *parser) next() { p.tok = p.sc.next() }

// errorf makes a syntax error at offset off.
func (p *parser) errorf(off int, format string, args ...any) error {
	pos, line := p.mod.position(off)
	return &SchemaError{Pos: pos, Msg: fmt.Sprintf(format, args...), Err: ErrSyntax, line: line}
}

// expected reports that the current token is not what the grammar wants.
func (p *parser) expected(what string) error {
	if p.tok.kind == tokOpenComment {
		// Whatever was wanted, the comment is the mistake.
		return p.errorf(p.tok.off, "comment not ended by a line break")
	}
	return p.errorf(p.tok.off, "expected %s, found %s", what, p.tok)
}

// spaced checks the white space the grammar requires before every list
// item but the first.
func (p *parser) spaced(what string) error {
	if !p.tok.spaced {
		return p.errorf(p.tok.off, "expected white space before %s %s", what, p.tok)
	}
	return nil
}

func (p *parser) ident(what string) (string, int, error) {
	if p.tok.kind != tokIdent {
		return "", 0, p.expected(what)
	}
	name, off := p.tok.text, p.tok.off
	p.next()
	return name, off, nil
}

func (p *parser) expect(kind tokenKind, what string) error {
	if p.tok.kind != kind {
		return p.expected(what)
	}
	p.next()
	return nil
}

// Module <- OWS 'module' MWS Identifier TypeDefinitions OWS EOF
func (p *parser) parseModule() error {
	if p.tok.kind != tokIdent || p.tok.text != "module" {
		return p.expected("'module'")
	}
	p.next()
	name, off, err := p.ident("module name")
	if err != nil {
		return err
	}
	p.mod.Name, p.mod.Pos = name, off
	for p.tok.kind != tokEOF {
		if p.tok.kind != tokIdent {
			return p.expected("type definition")
		}
		if err := p.spaced("definition"); err != nil {
			return err
		}
		def, err := p.parseTypeDef()
		if err != nil {
			return err
		}
		p.mod.Defs = append(p.mod.Defs, def)
	}
	return nil
}

// TypeDefinition <- Identifier OWS ArgNames? OWS '=' OWS Type
func (p *parser) parseTypeDef() (*TypeDef, error) {
	def := &TypeDef{Name: p.tok.text, Pos: p.tok.off}
	p.next()
	if p.tok.kind == tokLParen {
		p.next()
		// An empty list "T() = ..." is refused: it says nothing, and the
		// original reads it as no parameters at all.
		for {
			if p.tok.kind != tokIdent {
				return nil, p.expected("type parameter name")
			}
			def.Params = append(def.Params, Param{Name: p.tok.text, Pos: p.tok.off})
			p.next()
			if p.tok.kind == tokRParen {
				break
			}
			if p.tok.kind != tokIdent {
				return nil, p.expected("')'")
			}
			if err := p.spaced("parameter"); err != nil {
				return nil, err
			}
		}
		p.next()
	}
	if err := p.expect(tokEquals, "'='"); err != nil {
		return nil, err
	}
	t, err := p.parseType()
	if err != nil {
		return nil, err
	}
	def.Type = t
	return def, nil
}

// parseType reads one type:
//
//	Type       <- TSimple / TArray / TTuple / TUnion / TIdentifier
//	TIdentifier <- Identifier ('.' Identifier)? (OWS ArgTypes)?
//
// Builtin names are matched as whole identifiers, so IntegerList is an
// identifier rather than Integer followed by stray text (the original's
// quirk). Builtins with arguments, and wrong argument counts, are left to
// the repository, which reports them with the definition's name.
func (p *parser) parseType() (*TypeExpr, error) {
	if p.depth >= maxTypeNesting {
		return nil, p.errorf(p.tok.off, "types nested more than %d deep", maxTypeNesting)
	}
	p.depth++
	defer func() { p.depth-- }()

	if p.tok.kind != tokIdent {
		return nil, p.expected("type")
	}
	e := &TypeExpr{Pos: p.tok.off, Name: p.tok.text}
	p.next()
	// No white space around the dot of a qualified name.
	if p.tok.kind == tokDot && !p.tok.spaced {
		p.next()
		if p.tok.kind != tokIdent || p.tok.spaced {
			return nil, p.expected("type name after '.'")
		}
		e.Module, e.Name = e.Name, p.tok.text
		p.next()
	} else if _, ok := compositeKind(e.Name); ok {
		// Tuple/Union without braces, or with arguments, are refused: the
		// original quietly reads them as entry-less types.
		if p.tok.kind != tokLBrace {
			return nil, p.expected("'{' after " + e.Name)
		}
		p.next()
		for first := true; p.tok.kind != tokRBrace; first = false {
			if p.tok.kind != tokIdent {
				return nil, p.expected("entry name or '}'")
			}
			if !first {
				if err := p.spaced("entry"); err != nil {
					return nil, err
				}
			}
			en := EntryDef{Name: p.tok.text, Pos: p.tok.off}
			p.next()
			if err := p.expect(tokColon, "':' after entry name"); err != nil {
				return nil, err
			}
			t, err := p.parseType()
			if err != nil {
				return nil, err
			}
			en.Type = t
			e.Entries = append(e.Entries, en)
		}
		p.next()
		return e, nil
	}
	if p.tok.kind == tokLParen {
		p.next()
		// An empty list "Array()" is refused here, with the token that
		// should have been a type.
		for {
			a, err := p.parseType()
			if err != nil {
				return nil, err
			}
			e.Args = append(e.Args, a)
			if p.tok.kind == tokRParen {
				break
			}
			if p.tok.kind != tokIdent {
				return nil, p.expected("')'")
			}
			if err := p.spaced("type argument"); err != nil {
				return nil, err
			}
		}
		p.next()
	}
	return e, nil
}
