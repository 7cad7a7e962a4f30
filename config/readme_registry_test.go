package config

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// readmeRows reads the keyword tables of README.md: scope → keyword → the
// Value column.
func readmeRows(t *testing.T) map[string]map[string]string {
	t.Helper()
	doc, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(doc)
	out := map[string]map[string]string{}
	for _, sec := range []struct{ scope, from, to string }{
		{ScopeGlobal, "## Global keywords", "## `virtual NAME"},
		{ScopeVirtual, "## `virtual NAME", "## `server NAME"},
		{ScopeServer, "## `server NAME", "## `failover"},
	} {
		i, j := strings.Index(s, sec.from), strings.Index(s, sec.to)
		if i < 0 || j < i {
			t.Fatalf("README.md has no section %q", sec.from)
		}
		rows := map[string]string{}
		for _, l := range strings.Split(s[i:j], "\n") {
			cols := strings.Split(l, " | ")
			if !strings.HasPrefix(l, "| `") || len(cols) < 2 {
				continue
			}
			for _, name := range regexp.MustCompile("`([a-z_]+)`").FindAllStringSubmatch(cols[0], -1) {
				rows[name[1]] = cols[1]
			}
		}
		out[sec.scope] = rows
	}
	return out
}

// The keyword tables of README.md say of each value what the registry
// says, which is what the parser does (TestRegistryMatchesTheParser): a
// boolean is a bool, an enumeration lists exactly its choices, a bounded
// number its bounds.
func TestREADMEMatchesRegistry(t *testing.T) {
	rows := readmeRows(t)
	choice := regexp.MustCompile("`([^`]+)`")
	bounds := regexp.MustCompile(`(\d+)[–-](\d+)`)
	for _, k := range Keywords() {
		v, ok := rows[k.Scope][k.Name]
		if !ok {
			continue // documented in prose (TestREADMEDocumentsEveryKeyword)
		}
		switch k.Kind {
		case KindBool:
			if !strings.HasPrefix(v, "bool") {
				t.Errorf("%s %s: README says %q, the registry bool", k.Scope, k.Name, v)
			}
		case KindEnum:
			if k.Name == "scheduler" || k.Max > 0 {
				continue // listed in the Meaning column; open enumerations take numbers
			}
			var got []string
			for _, m := range choice.FindAllStringSubmatch(v, -1) {
				got = append(got, m[1])
			}
			want := slices.Clone(k.Choices)
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("%s %s: README lists %v, the registry %v", k.Scope, k.Name, got, want)
			}
		case KindInt, KindPort, KindSeconds:
			word := map[Kind]string{KindInt: "int", KindPort: "port", KindSeconds: "seconds"}[k.Kind]
			if !strings.Contains(v, word) && !strings.Contains(v, "ms") {
				t.Errorf("%s %s: README says %q, the registry %s", k.Scope, k.Name, v, k.Kind)
			}
			// A range in the README is the registry's bounds.
			if m := bounds.FindStringSubmatch(v); m != nil {
				if lo, hi := fmt.Sprint(k.Min), fmt.Sprint(k.Max); m[1] != lo || m[2] != hi {
					t.Errorf("%s %s: README says %s–%s, the registry %s–%s", k.Scope, k.Name, m[1], m[2], lo, hi)
				}
			}
		}
	}
}
