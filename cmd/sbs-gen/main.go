package main

import (
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gochatter/gochatter/pkg/sbs"
	"github.com/gochatter/gochatter/pkg/sbs/gen"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

func run(args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("sbs-gen", flag.ContinueOnError)
	fl.SetOutput(stderr)
	pkg := fl.String("package", "", "Go package `name` of the output (required)")
	out := fl.String("o", "", "output `file` (default: standard output)")
	registry := fl.Bool("registry", false, "add NewSBS(module, name)")
	var schema multiFlag
	fl.Var(&schema, "schema", "schema file or directory needed to resolve references (repeatable)")
	fl.Usage = func() {
		fmt.Fprintln(stderr, "usage: sbs-gen -package NAME [-o FILE] [-schema PATH]... [-registry] PATH...")
		fl.PrintDefaults()
	}
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *pkg == "" || fl.NArg() == 0 {
		fl.Usage()
		return fmt.Errorf("sbs-gen: need -package and at least one schema path")
	}
	cfg := gen.Config{Package: *pkg, Registry: *registry}
	for _, p := range fl.Args() {
		files, err := schemaFiles(p)
		if err != nil {
			return err
		}
		for _, f := range files {
			text, err := os.ReadFile(f)
			if err != nil {
				return err
			}
			cfg.Files = append(cfg.Files, gen.File{Name: filepath.ToSlash(f), Text: string(text)})
		}
	}
	for _, p := range schema {
		cfg.Schema = append(cfg.Schema, sbs.Path(p))
	}
	src, err := gen.Generate(cfg)
	if err != nil {
		return err
	}
	if *out == "" {
		_, err = stdout.Write(src)
		return err
	}
	return os.WriteFile(*out, src, 0o644)
}

// schemaFiles is path itself, or the *.sbs files under the directory path
// in lexical order.
func schemaFiles(path string) ([]string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !info.IsDir() {
		return []string{path}, nil
	}
	var files []string
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() && strings.HasSuffix(p, ".sbs") {
			files = append(files, p)
		}
		return nil
	})
	slices.Sort(files)
	return files, err
}
