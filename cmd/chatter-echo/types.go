package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/gochatter/gochatter/pkg/sbs"
)

// types lists every type of the schemas with an SBS-JSON skeleton: the
// shape of a value, as call, send and listen write it.
func types(_ context.Context, args []string, s stdio) int {
	var schemas pathList
	fs := newFlagSet("types")
	fs.Var(&schemas, "schema", "`PATH` of an .sbs file or of a directory of them (repeatable)")
	asJSON := fs.Bool("json", false, "one JSON object of type name to skeleton")
	all := fs.Bool("all", false, "include the builtins and the protocol's own Hat and HatPing modules")
	if _, err := parseArgs(fs, args, nil, 0, func() error {
		if len(schemas) == 0 && !*all {
			return fmt.Errorf("no -schema given")
		}
		return nil
	}); err != nil {
		return usageStatus(fs, "-schema PATH [-schema PATH ...]", err, s.err)
	}
	f := commonFlags{schemas: schemas}
	repo, err := f.repository()
	if err != nil {
		return failStatus(s.err, err)
	}
	var names []string
	var ts []*sbs.Type
	if *all {
		for _, b := range []string{"Boolean", "Integer", "Float", "String", "Bytes", "None"} {
			t, _ := repo.Type("", b)
			names, ts = append(names, b), append(ts, t)
		}
	}
	for _, m := range repo.Modules() {
		if !*all && (m == "Hat" || m == "HatPing") {
			continue
		}
		for _, n := range repo.TypeNames(m) {
			t, err := repo.Type(m, n)
			if err != nil {
				return failStatus(s.err, err)
			}
			names, ts = append(names, m+"."+n), append(ts, t)
		}
	}
	if *asJSON {
		obj := make(map[string]json.RawMessage, len(names))
		for i, n := range names {
			obj[n] = json.RawMessage(skeleton(ts[i], nil))
		}
		enc := json.NewEncoder(s.out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(obj); err != nil {
			return failStatus(s.err, err)
		}
		return exitOK
	}
	for i, n := range names {
		fmt.Fprintf(s.out, "%s = %s\n", n, skeleton(ts[i], nil))
	}
	return exitOK
}

// skeleton is t's SBS-JSON shape with zero values: 0, "", false, base64 ""
// for Bytes, null for None, one element for an Array, every entry of a
// Tuple, and the first alternative of a Union, ["name", value]. A type met
// again inside itself (a recursive type) is written as its name in a
// string.
func skeleton(t *sbs.Type, seen []*sbs.Type) string {
	for _, s := range seen {
		if s == t {
			return fmt.Sprintf("%q", "…"+t.String())
		}
	}
	switch t.Kind() {
	case sbs.KindBoolean:
		return "false"
	case sbs.KindInteger, sbs.KindFloat:
		return "0"
	case sbs.KindString, sbs.KindBytes:
		return `""`
	case sbs.KindArray:
		return "[" + skeleton(t.Elem(), append(seen, t)) + "]"
	case sbs.KindTuple:
		if t.NumEntries() == 0 {
			return "null"
		}
		var b strings.Builder
		b.WriteString("{")
		for i := range t.NumEntries() {
			e := t.Entry(i)
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%q: %s", e.Name, skeleton(e.Type, append(seen, t)))
		}
		b.WriteString("}")
		return b.String()
	case sbs.KindUnion:
		if t.NumEntries() == 0 {
			return "null"
		}
		e := t.Entry(0)
		return fmt.Sprintf("[%q, %s]", e.Name, skeleton(e.Type, append(seen, t)))
	}
	return "null"
}
