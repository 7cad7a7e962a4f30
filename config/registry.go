package config

import (
	"slices"
	"strings"
)

// Kind is what a keyword's value is, as forms, the API schema and the
// reference show it.
type Kind string

// Kinds of values.
const (
	KindBool    Kind = "bool"    // 0 or 1
	KindInt     Kind = "int"     // a whole number in [Min, Max]
	KindSeconds Kind = "seconds" // whole seconds in [Min, Max]
	KindPort    Kind = "port"    // a port number or service name
	KindAddress Kind = "address" // an IP address (and, for two-value keywords, a device)
	KindMask    Kind = "mask"    // a netmask, dotted or as a prefix length
	KindEnum    Kind = "enum"    // one of Choices
	KindText    Kind = "text"    // anything else: a name, a list, a command
)

// Scopes of keywords.
const (
	ScopeGlobal  = "global"
	ScopeVirtual = "virtual"
	ScopeServer  = "server"
)

// Keyword describes one lvs.cf keyword, from the parser's own tables, so
// that what the forms offer, what the API schema says and what the file
// accepts cannot drift apart.
type Keyword struct {
	Name, Scope string
	Kind        Kind
	// Min and Max bound an int, seconds or port.
	Min, Max int64
	// Choices are an enum's values; an open enum (dns_type) also takes
	// numbers.
	Choices []string
	// Values is how many value tokens it takes (address takes IP and
	// device), -1 for a list.
	Values int
	// Ignored says why govs accepts the keyword but does nothing with it.
	Ignored string
	// Check is set for a health-check extension.
	Check bool
}

// scopes are the keyword tables, by scope.
var scopes = []struct {
	name  string
	table map[string]*kwDef
}{{ScopeGlobal, globalKeywords}, {ScopeVirtual, virtualKeywords}, {ScopeServer, serverKeywords}}

func keyword(scope, name string, d *kwDef) Keyword {
	return Keyword{Name: name, Scope: scope, Kind: d.kind, Min: d.lo, Max: d.hi,
		Choices: slices.Clone(d.enum), Values: d.n, Ignored: d.ignored,
		Check: scope == ScopeVirtual && extraByKey(name) != nil}
}

// Keywords lists every keyword of every scope, by scope and name.
func Keywords() []Keyword {
	var out []Keyword
	for _, sc := range scopes {
		for name, d := range sc.table {
			out = append(out, keyword(sc.name, name, d))
		}
	}
	slices.SortFunc(out, func(a, b Keyword) int {
		if c := strings.Compare(scopeOrder(a.Scope), scopeOrder(b.Scope)); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}

// KeywordOf finds a keyword of a scope.
func KeywordOf(scope, name string) (Keyword, bool) {
	for _, sc := range scopes {
		if d := sc.table[name]; sc.name == scope && d != nil {
			return keyword(scope, name, d), true
		}
	}
	return Keyword{}, false
}

func scopeOrder(s string) string {
	switch s {
	case ScopeGlobal:
		return "0"
	case ScopeVirtual:
		return "1"
	}
	return "2"
}

// withChoices makes a text keyword an enumeration for the forms and the
// schema; the parser's own check of the value is d's.
func withChoices(d *kwDef, choices ...string) *kwDef {
	d.kind, d.enum = KindEnum, choices
	return d
}

// describe says what a health-check extension's value is.
func (d *extraDef) describe() (Kind, int64, int64, []string) {
	switch d.kind {
	case extraBool:
		return KindBool, 0, 1, nil
	case extraCount:
		if d.seconds {
			return KindSeconds, d.min, 1<<31 - 1, nil
		}
		return KindInt, d.min, 1<<31 - 1, nil
	case extraPort:
		return KindPort, 1, 65535, nil
	case extraEnum:
		return KindEnum, 0, d.openMax, slices.Clone(d.enum)
	}
	return KindText, 0, 0, nil
}
