package sbs

import (
	"encoding/hex"
	"io"
	"math/big"
	"testing"
)

func TestIntegerKnownEncodings(t *testing.T) {
	cases := []struct {
		v   int64
		hex string
	}{
		{0, "80"}, {1, "81"}, {-1, "ff"}, {63, "bf"}, {64, "00c0"},
		{-64, "c0"}, {-65, "7fbf"}, {8191, "3fff"}, {8192, "004080"},
	}
	for _, c := range cases {
		got := hex.EncodeToString(AppendInteger(nil, c.v))
		if got != c.hex {
			t.Errorf("AppendInteger(%d) = %s, want %s", c.v, got, c.hex)
		}
		if SizeInteger(c.v) != len(got)/2 {
			t.Errorf("SizeInteger(%d) = %d, want %d", c.v, SizeInteger(c.v), len(got)/2)
		}
		raw, _ := hex.DecodeString(c.hex)
		v, n := ConsumeInteger(raw)
		if n != len(raw) || v != c.v {
			t.Errorf("ConsumeInteger(%s) = %d, %d", c.hex, v, n)
		}
		bv, n := ConsumeBigInteger(raw)
		if n != len(raw) || bv.Int64() != c.v {
			t.Errorf("ConsumeBigInteger(%s) = %v, %d", c.hex, bv, n)
		}
		if got := hex.EncodeToString(AppendBigInteger(nil, big.NewInt(c.v))); got != c.hex {
			t.Errorf("AppendBigInteger(%d) = %s", c.v, got)
		}
	}
}

func TestIntegerRoundTripEdges(t *testing.T) {
	for shift := 0; shift < 64; shift++ {
		for _, v := range []int64{1 << shift, 1<<shift - 1, -(1 << shift), -(1 << shift) - 1} {
			b := AppendInteger(nil, v)
			got, n := ConsumeInteger(b)
			if n != len(b) || got != v {
				t.Fatalf("round trip %d: got %d, n=%d (len %d)", v, got, n, len(b))
			}
			bx, n := ConsumeBigInteger(b)
			if n != len(b) || !bx.IsInt64() || bx.Int64() != v {
				t.Fatalf("big round trip %d: got %v", v, bx)
			}
		}
	}
}

func TestBigIntegerBeyondInt64(t *testing.T) {
	for _, s := range []string{"1267650600228229401496703205376", "-1267650600228229401496703205376",
		"9223372036854775808", "-9223372036854775809", "-1267650600228229401496703205377"} {
		x, _ := new(big.Int).SetString(s, 10)
		b := AppendBigInteger(nil, x)
		if len(b) != SizeBigInteger(x) {
			t.Errorf("%s: size %d, wrote %d", s, SizeBigInteger(x), len(b))
		}
		if _, n := ConsumeInteger(b); n != errCodeOverflow {
			t.Errorf("%s: ConsumeInteger n = %d, want overflow", s, n)
		}
		y, n := ConsumeBigInteger(b)
		if n != len(b) || y.Cmp(x) != 0 {
			t.Errorf("%s: got %v n=%d", s, y, n)
		}
	}
}

func TestIntegerRejects(t *testing.T) {
	for _, h := range []string{"", "00", "0000", "0080", "7fff", "7f7fff", "3f"} {
		raw, _ := hex.DecodeString(h)
		if _, n := ConsumeInteger(raw); n >= 0 {
			t.Errorf("ConsumeInteger(%q) accepted", h)
		}
		if _, n := ConsumeBigInteger(raw); n >= 0 {
			t.Errorf("ConsumeBigInteger(%q) accepted", h)
		}
	}
}

func TestConsumeCount(t *testing.T) {
	cases := []struct {
		hex   string
		limit int
		v, n  int
	}{
		{"80", 1, 0, 1},
		{"82", 3, 2, 1},
		{"83", 3, 0, errCodeInvalidLength},
		{"ff", 3, 0, errCodeInvalidLength},
		{"0180", 1000, 128, 2},
		{"0080", 3, 0, errCodeNonMinimal},
		{"", 3, 0, errCodeTruncated},
		{"01000000000000000000808081", 3, 0, errCodeInvalidLength},
	}
	for _, c := range cases {
		raw, _ := hex.DecodeString(c.hex)
		v, n := ConsumeCount(raw, c.limit)
		if v != c.v || n != c.n {
			t.Errorf("ConsumeCount(%s, %d) = %d, %d; want %d, %d", c.hex, c.limit, v, n, c.v, c.n)
		}
	}
}

func TestParseError(t *testing.T) {
	for n, want := range map[int]error{
		0: nil, 5: nil,
		errCodeTruncated:      io.ErrUnexpectedEOF,
		errCodeOverflow:       ErrOverflow,
		errCodeNonMinimal:     ErrNonMinimal,
		errCodeInvalidBoolean: ErrInvalidBoolean,
		errCodeInvalidLength:  ErrInvalidLength,
		errCodeInvalidUTF8:    ErrInvalidUTF8,
		-100:                  ErrInvalidValue,
	} {
		if got := ParseError(n); got != want {
			t.Errorf("ParseError(%d) = %v, want %v", n, got, want)
		}
	}
}
