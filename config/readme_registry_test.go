package config

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

var updateREADME = flag.Bool("update-readme", false, "rewrite README.md's keyword tables from the registry")

// referenceTable is the keyword reference of a scope as README.md shows
// it, from the registry: every keyword but the health-check extensions
// (checks = false), or those alone (checks = true).
func referenceTable(scope string, checks bool) string {
	cell := func(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
	var b strings.Builder
	if checks {
		b.WriteString("| Keyword | Value | Example |\n|---|---|---|\n")
	} else {
		b.WriteString("| Keyword | Value | Default | Meaning |\n|---|---|---|---|\n")
	}
	for _, k := range Keywords() {
		if k.Scope != scope || k.Check != checks {
			continue
		}
		if checks {
			fmt.Fprintf(&b, "| `%s` | %s | `%s` |\n", k.Name, cell(k.Value), k.Example)
			continue
		}
		meaning := k.Doc
		if k.Govs {
			meaning = "**govs.** " + meaning
		}
		if k.Ignored != "" {
			meaning = "Accepted and ignored, with a warning (" + k.Ignored + "). " + meaning
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", k.Name, cell(k.Value), cell(k.Default), cell(meaning))
	}
	return b.String()
}

// README.md's keyword tables are the registry's, generated: a keyword
// added, removed or documented differently in config's tables fails this
// test until `go test ./config -run README -update-readme` writes them.
func TestREADMEKeywordTablesAreTheRegistrys(t *testing.T) {
	doc, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(doc)
	out := s
	for _, sec := range []struct {
		marker, scope string
		checks        bool
	}{
		{"global", ScopeGlobal, false}, {"virtual", ScopeVirtual, false},
		{"checks", ScopeVirtual, true}, {"server", ScopeServer, false},
	} {
		begin, end := "<!-- keywords:"+sec.marker+" (generated from the registry) -->\n", "<!-- end keywords:"+sec.marker+" -->"
		i, j := strings.Index(out, begin), strings.Index(out, end)
		if i < 0 || j < i {
			t.Fatalf("README.md has no %q ... %q section", begin, end)
		}
		out = out[:i+len(begin)] + referenceTable(sec.scope, sec.checks) + out[j:]
	}
	if out == s {
		return
	}
	if *updateREADME {
		if err := os.WriteFile("README.md", []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("README.md's keyword tables differ from the registry; run go test ./config -run README -update-readme")
}
