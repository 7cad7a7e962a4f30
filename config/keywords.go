package config

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/govs/govs/model"
)

// The lvs.cf vocabulary: every keyword of the global section, of a
// virtual block and of a server block, in the order Write emits them, with
// how its value is read (set) and written (get), where it goes in the
// model, what it means, and where the web tool edits it. Parse reads files
// through these tables, Write writes them, SetGlobal, SetService and
// SetServer read form fields through them, and the registry (Keywords),
// the API schema, the web forms and the keyword reference in README.md
// are derived from them.

// kwDef describes a keyword: how many value tokens it takes (-1: any), how
// to store them, and, for keywords govs accepts but does not act on, why.
type kwDef struct {
	n   int
	set func(p *parser, v []token) error
	// get returns the value tokens of the model p holds as Write writes
	// them, nil when the keyword is unset there; a keyword without get is
	// never written (it has no place in the model).
	get func(p *parser) ([]string, error)
	// reset gives the keyword of cur the value it has in def, an empty
	// block's (or file's); same, where set, tells whether it has that
	// value already, cheaply, so that Write skips it without reading it.
	reset   func(cur, def *parser)
	same    func(cur, def *parser) bool
	ignored string
	// What the value is, for the forms, the API schema and the docs: a
	// kind, its bounds or its choices.
	kind   Kind
	lo, hi int64
	enum   []string
	meta
}

// meta is what a keyword tells people: the reference's columns and the
// web tool's field.
type meta struct {
	doc   string // what it does (Markdown)
	value string // the reference's Value column when kind, bounds and choices do not say it
	dflt  string // the reference's Default column when the default value does not say it
	govs  bool   // govs's own, not Piranha's
	// example is a line of lvs.cf using it, for the reference.
	example string
	// always writes it even at its default; quoted always quotes it;
	// required is a keyword its block cannot do without.
	always, quoted, required bool
	form                     *formDef
}

// formDef places a keyword on a page of the web tool.
type formDef struct {
	page, group, label, help string
	// more are a multi-value keyword's further inputs, one per value
	// after the first (the device of an address); the first input is
	// named as the keyword.
	more []Input
	// options label an enumeration's choices (value=label).
	options []string
	// check shows a number whose non-zero means on as a checkbox.
	check bool
}

// about documents a keyword.
func (d *kwDef) about(doc string) *kwDef { d.doc = doc; return d }

// shown sets the reference's Value column.
func (d *kwDef) shown(value string) *kwDef { d.value = value; return d }

// byDefault sets the reference's Default column.
func (d *kwDef) byDefault(text string) *kwDef { d.dflt = text; return d }

// needed marks a keyword its block cannot do without.
func (d *kwDef) needed() *kwDef { d.required, d.dflt = true, "— (required)"; return d }

// ofGovs marks a keyword Piranha did not have.
func (d *kwDef) ofGovs() *kwDef { d.govs = true; return d }

// on places a keyword on a page of the web tool, in a group.
func (d *kwDef) on(page, group, label, help string) *kwDef {
	d.form = &formDef{page: page, group: group, label: label, help: help}
	return d
}

// andInput adds an input for a multi-value keyword's next value.
func (d *kwDef) andInput(name, label, help string) *kwDef {
	d.form.more = append(d.form.more, Input{Name: name, Label: label, Help: help})
	return d
}

// labelled labels an enumeration's choices on its form.
func (d *kwDef) labelled(options ...string) *kwDef { d.form.options = options; return d }

// written writes a keyword even at its default.
func (d *kwDef) written() *kwDef { d.always = true; return d }

// inQuotes writes a keyword's value in quotes even where a bare word would
// do, so that a probe string's exact text is visible.
func (d *kwDef) inQuotes() *kwDef { d.quoted = true; return d }

// asCheckbox shows a number whose non-zero means on as a checkbox.
func (d *kwDef) asCheckbox() *kwDef { d.form.check = true; return d }

// setBy reads values as other does, which stores them its own way.
func (d *kwDef) setBy(other *kwDef) *kwDef { d.set = other.set; return d }

// getter sets how a keyword is read back from the model.
func (d *kwDef) getter(get func(p *parser) ([]string, error)) *kwDef { d.get = get; return d }

// resetter sets how a keyword returns to its default.
func (d *kwDef) resetter(reset func(cur, def *parser)) *kwDef { d.reset = reset; return d }

// kwEntry is a keyword of a table.
type kwEntry struct {
	name string
	*kwDef
}

// kwTable is one scope's keywords, in the order Write emits them.
type kwTable struct {
	list []kwEntry
	by   map[string]*kwDef
}

func newTable(entries ...kwEntry) *kwTable {
	t := &kwTable{by: map[string]*kwDef{}}
	for _, e := range entries {
		t.add(e)
	}
	return t
}

func (t *kwTable) add(e kwEntry) {
	if t.by[e.name] != nil {
		panic("config: keyword " + e.name + " defined twice")
	}
	t.list = append(t.list, e)
	t.by[e.name] = e.kwDef
}

// lookup finds a keyword, nil if the scope has none of that name.
func (t *kwTable) lookup(name string) *kwDef { return t.by[name] }

// names lists the table's keywords, for a guess at a misspelt one.
func (t *kwTable) names() []string {
	out := make([]string, len(t.list))
	for i, e := range t.list {
		out[i] = e.name
	}
	return out
}

// elsewhere says where a keyword t lacks belongs instead ("the global
// section", "a virtual block", "a server block"), or "".
func (t *kwTable) elsewhere(name string) string {
	for _, sc := range []struct {
		t     *kwTable
		where string
	}{{globalKeywords, "the global section"}, {virtualKeywords, "a virtual block"}, {serverKeywords, "a server block"}} {
		if sc.t != t && sc.t.lookup(name) != nil {
			return sc.where
		}
	}
	return ""
}

// Helpers that build kwDefs for the common value types. The *Var ones
// store to and read from one model field, so that get and reset come
// with set.

func intKW(lo, hi int64, store func(p *parser, n int64)) *kwDef {
	return &kwDef{n: 1, kind: KindInt, lo: lo, hi: hi, set: func(p *parser, v []token) error {
		n, err := intIn(v[0].text, lo, hi)
		if err != nil {
			return err
		}
		store(p, n)
		return nil
	}}
}

// field makes a kwDef read and reset the model field at gives.
func field[T comparable](d *kwDef, at func(p *parser) *T, get func(v T) ([]string, error)) *kwDef {
	d.get = func(p *parser) ([]string, error) { return get(*at(p)) }
	d.reset = func(cur, def *parser) { *at(cur) = *at(def) }
	d.same = func(cur, def *parser) bool { return *at(cur) == *at(def) }
	return d
}

func intVar[T ~int | ~uint16 | ~uint32](lo, hi int64, at func(p *parser) *T) *kwDef {
	return field(intKW(lo, hi, func(p *parser, n int64) { *at(p) = T(n) }), at, func(v T) ([]string, error) {
		return []string{strconv.FormatInt(int64(v), 10)}, nil
	})
}

// unsetVar is a number whose zero means "not set" in the model, a value
// the file cannot give: it is written only when set.
func unsetVar[T ~int | ~uint16](lo, hi int64, at func(p *parser) *T) *kwDef {
	return field(intKW(lo, hi, func(p *parser, n int64) { *at(p) = T(n) }), at, func(v T) ([]string, error) {
		if v == 0 {
			return nil, nil
		}
		return []string{strconv.FormatInt(int64(v), 10)}, nil
	})
}

func boolKW(store func(p *parser, b bool)) *kwDef {
	return &kwDef{n: 1, kind: KindBool, set: func(p *parser, v []token) error {
		b, err := parseBool(v[0].text)
		if err != nil {
			return err
		}
		store(p, b)
		return nil
	}}
}

func boolVar(at func(p *parser) *bool) *kwDef {
	return field(boolKW(func(p *parser, b bool) { *at(p) = b }), at, func(b bool) ([]string, error) {
		return []string{boolText(b)}, nil
	})
}

func boolText(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// secondsKW reads a whole number of seconds no smaller than lo.
func secondsKW(lo int64, store func(p *parser, d time.Duration)) *kwDef {
	d := intKW(lo, math.MaxInt32, func(p *parser, n int64) { store(p, time.Duration(n)*time.Second) })
	d.kind = KindSeconds
	return d
}

func secondsVar(lo int64, at func(p *parser) *time.Duration) *kwDef {
	return field(secondsKW(lo, func(p *parser, d time.Duration) { *at(p) = d }), at, secondsText)
}

// secondsText writes a duration as lvs.cf's whole seconds.
func secondsText(d time.Duration) ([]string, error) {
	if d%time.Second != 0 {
		return nil, fmt.Errorf("%v is not a whole number of seconds", d)
	}
	return []string{strconv.FormatInt(int64(d/time.Second), 10)}, nil
}

func strKW(nonEmpty bool, store func(p *parser, s string)) *kwDef {
	return &kwDef{n: 1, kind: KindText, set: func(p *parser, v []token) error {
		if nonEmpty && v[0].text == "" {
			return fmt.Errorf("empty value")
		}
		store(p, v[0].text)
		return nil
	}}
}

// strVar is a text field.
func strVar(nonEmpty bool, at func(p *parser) *string) *kwDef {
	return field(strKW(nonEmpty, func(p *parser, s string) { *at(p) = s }), at, func(s string) ([]string, error) {
		return []string{s}, nil
	})
}

func textOrUnset(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	return []string{s}, nil
}

func portKW(store func(p *parser, port uint16)) *kwDef {
	return &kwDef{n: 1, kind: KindPort, lo: 0, hi: 65535, set: func(p *parser, v []token) error {
		port, err := ParsePort(v[0].text)
		if err != nil {
			return err
		}
		store(p, port)
		return nil
	}}
}

func portVar(at func(p *parser) *uint16) *kwDef {
	return field(portKW(func(p *parser, port uint16) { *at(p) = port }), at, func(v uint16) ([]string, error) {
		return []string{strconv.Itoa(int(v))}, nil
	})
}

// host reads an address and reports inet_aton shorthands; unspecified
// addresses are refused where Piranha refused them.
func (p *parser) host(s string, allowUnspecified bool) (netip.Addr, error) {
	h, err := parseHost(s)
	if err != nil {
		return netip.Addr{}, err
	}
	if !allowUnspecified && h.addr.IsUnspecified() {
		return netip.Addr{}, fmt.Errorf("invalid host name or ip address %q", s)
	}
	if h.note != "" {
		p.warnf(p.line, "%s", h.note)
	}
	return h.addr, nil
}

func hostKW(allowUnspecified bool, store func(p *parser, a netip.Addr)) *kwDef {
	return &kwDef{n: 1, kind: KindAddress, set: func(p *parser, v []token) error {
		a, err := p.host(v[0].text, allowUnspecified)
		if err != nil {
			return err
		}
		store(p, a)
		return nil
	}}
}

func hostVar(allowUnspecified bool, at func(p *parser) *netip.Addr) *kwDef {
	return field(hostKW(allowUnspecified, func(p *parser, a netip.Addr) { *at(p) = a }), at, addrText)
}

func addrText(a netip.Addr) ([]string, error) {
	if !a.IsValid() {
		return nil, nil
	}
	return []string{a.String()}, nil
}

// maskKW reads a netmask; dotted 0.0.0.0 means none, as in Piranha.
func maskKW(store func(p *parser, m maskResult)) *kwDef {
	return &kwDef{n: 1, kind: KindMask, set: func(p *parser, v []token) error {
		m, err := parseMask(v[0].text)
		if err != nil {
			return err
		}
		store(p, m)
		return nil
	}}
}

// maskVar is a prefix length written as Parse reads it back: a dotted
// quad for an IPv4 address (of the address family gives), the bare length
// for IPv6; 0 is none.
func maskVar(at func(p *parser) *int, family func(p *parser) netip.Addr) *kwDef {
	d := maskKW(func(p *parser, m maskResult) { *at(p) = m.bits })
	d.get = func(p *parser) ([]string, error) { return maskText(*at(p), family(p)), nil }
	d.reset = func(cur, def *parser) { *at(cur) = *at(def) }
	d.same = func(cur, def *parser) bool { return *at(cur) == *at(def) }
	return d
}

func maskText(bits int, of netip.Addr) []string {
	if bits == 0 {
		return nil
	}
	if (of.IsValid() && of.Is6()) || bits < 0 || bits > 32 {
		return []string{strconv.Itoa(bits)}
	}
	return []string{dottedMask(bits)}
}

func ignoredKW(n int, reason string) *kwDef {
	return &kwDef{n: n, kind: KindText, set: func(*parser, []token) error { return nil }, ignored: reason}
}

func ignoredWith(d *kwDef, reason string) *kwDef {
	d.ignored = reason
	return d
}

// enumKW reads one of choices (in any case with fold) into a model value.
func enumKW[T comparable](choices []string, fold bool, parse func(string) (T, error), at func(p *parser) *T, text func(T) []string) *kwDef {
	d := &kwDef{n: 1, kind: KindEnum, enum: choices, set: func(p *parser, v []token) error {
		for _, c := range choices {
			if v[0].text == c || fold && strings.EqualFold(v[0].text, c) {
				x, err := parse(c)
				if err != nil {
					return err
				}
				*at(p) = x
				return nil
			}
		}
		return fmt.Errorf("invalid argument %q (want %s)", v[0].text, orList(choices))
	}}
	return field(d, at, func(x T) ([]string, error) { return text(x), nil })
}

// orList is "a, b or c".
func orList(s []string) string {
	switch len(s) {
	case 0:
		return ""
	case 1:
		return s[0]
	}
	out := s[0]
	for _, x := range s[1 : len(s)-1] {
		out += ", " + x
	}
	return out + " or " + s[len(s)-1]
}

// forwardVar is a forwarding method; the model's default (none given) is
// not written.
func forwardVar(at func(p *parser) *model.Forward) *kwDef {
	return enumKW([]string{"nat", "direct", "tunnel"}, false, model.ParseForward, at, func(f model.Forward) []string {
		if f == model.ForwardDefault {
			return nil
		}
		return []string{f.String()}
	})
}

func g(p *parser) *model.Global      { return &p.cfg.Global }
func vs(p *parser) *model.Service    { return &p.cur.s }
func rs(p *parser) *model.RealServer { return &p.srv.r }

const (
	whyFOS       = "failover services are not supported"
	whySCSI      = "shared-SCSI failover is not supported"
	whyNoNanny   = "govs checks real servers itself, without nanny processes"
	whyNoIPVSAdm = "govs programs IPVS over netlink, not with ipvsadm"
)
