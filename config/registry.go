package config

import (
	"slices"
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
// that what the forms offer, what the API schema says, what the reference
// documents and what the file accepts cannot drift apart.
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
	// Doc says what it does (Markdown); Value and Default are the
	// reference's columns: what the value is and what an absent keyword
	// means; Example is a line using it, for the check extensions.
	Doc, Value, Default, Example string
	// Govs marks a keyword Piranha did not have.
	Govs bool
	// Required marks a keyword a block cannot do without (its address).
	Required bool
	// Form places it on a page of the web tool; nil for keywords the web
	// tool does not edit.
	Form *Form
}

// Form is where the web tool edits a keyword: a page (PageGlobal, ...) and
// a group of fields on it (a fieldset's legend).
type Form struct {
	Page, Group string
	// Inputs are the field's inputs, one per value token: a keyword of an
	// address and a device has two (address, device). The first is named
	// as the keyword.
	Inputs []Input
	// Input is the kind of input: "check" (a checkbox), "select" (one of
	// Options), "number" or "text".
	Input string
	// Options are a select's choices as value=label; a keyword whose
	// absence means something of its own ("the global network", "not
	// set") offers a blank choice labelled with that. An open enumeration
	// (numbers too) is a text input.
	Options []string
}

// Input is one input of a form: the name it is sent as, its label and a
// line of help.
type Input struct{ Name, Label, Help string }

// scopes are the keyword tables, by scope.
var scopes = []struct {
	name  string
	table *kwTable
}{{ScopeGlobal, globalKeywords}, {ScopeVirtual, virtualKeywords}, {ScopeServer, serverKeywords}}

func tableOf(scope string) *kwTable {
	for _, sc := range scopes {
		if sc.name == scope {
			return sc.table
		}
	}
	return nil
}

func keyword(scope, name string, d *kwDef) Keyword {
	k := Keyword{Name: name, Scope: scope, Kind: d.kind, Min: d.lo, Max: d.hi,
		Choices: slices.Clone(d.enum), Values: d.n, Ignored: d.ignored,
		Check: scope == ScopeVirtual && extraByKey(name) != nil,
		Doc:   d.doc, Govs: d.govs, Example: d.example}
	k.Value = d.value
	if k.Value == "" {
		k.Value = valueText(d)
	}
	k.Default = d.dflt
	if k.Default == "" {
		k.Default = defaultText(scope, d)
	}
	if d.form != nil {
		k.Form = formOf(name, k, d.form)
	}
	return k
}

// Keywords lists every keyword of every scope, by scope and in the order
// Write emits them.
func Keywords() []Keyword {
	var out []Keyword
	for _, sc := range scopes {
		for _, e := range sc.table.list {
			out = append(out, keyword(sc.name, e.name, e.kwDef))
		}
	}
	return out
}

// KeywordOf finds a keyword of a scope.
func KeywordOf(scope, name string) (Keyword, bool) {
	if t := tableOf(scope); t != nil {
		if d := t.lookup(name); d != nil {
			return keyword(scope, name, d), true
		}
	}
	return Keyword{}, false
}

// OnPage lists the keywords a page of the web tool edits, in their
// order.
func OnPage(page string) []Keyword {
	var out []Keyword
	for _, k := range Keywords() {
		if k.Form != nil && k.Form.Page == page {
			out = append(out, k)
		}
	}
	return out
}

// FormInputs lists the inputs of a page's keywords: what a form of that
// page may send.
func FormInputs(page string) []string {
	var out []string
	for _, k := range OnPage(page) {
		for _, in := range k.Form.Inputs {
			out = append(out, in.Name)
		}
	}
	return out
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
