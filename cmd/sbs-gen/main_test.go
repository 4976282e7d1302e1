package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRun(t *testing.T) {
	dir := t.TempDir()
	schemas := filepath.Join(dir, "schemas")
	if err := os.MkdirAll(filepath.Join(schemas, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(schemas, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.sbs", "module A\nT = Tuple { b: B.U }\n")
	write("sub/ignored.txt", "not a schema")
	other := filepath.Join(dir, "b.sbs")
	if err := os.WriteFile(other, []byte("module B\nU = Union { x: Integer, y: None }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.go")
	var stdout, stderr bytes.Buffer
	if err := run([]string{"-package", "x", "-o", out, "-schema", other, schemas}, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	src, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"package x", "type AT struct", "type BU struct", "func (x *AT) UnmarshalSBS("} {
		if !bytes.Contains(src, []byte(want)) {
			t.Errorf("output lacks %q", want)
		}
	}
	// Standard output, the same text.
	stdout.Reset()
	if err := run([]string{"-package", "x", "-schema", other, schemas}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(stdout.Bytes(), src) {
		t.Error("standard output differs from -o output")
	}
}

func TestRunUsage(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := run(nil, &stdout, &stderr); err == nil || !strings.Contains(stderr.String(), "usage: sbs-gen") {
		t.Errorf("no arguments: %v, %q", err, stderr.String())
	}
	if err := run([]string{"-package", "x", "missing.sbs"}, &stdout, &stderr); err == nil {
		t.Error("missing file accepted")
	}
}
