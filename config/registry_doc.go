package config

import (
	"math"
	"strconv"
	"strings"

	"github.com/govs/govs/model"
)

// holders return a parser holding an empty file's global section, an
// empty virtual block and an empty server block in it: what every
// keyword's absence means.
func defaultHolder(scope string) *parser {
	p := &parser{}
	p.cfg.Global = model.DefaultGlobal()
	s := model.DefaultService("")
	p.cur = &svcState{s: s, sorryPort: -1}
	if scope == ScopeServer {
		r := model.DefaultRealServer("")
		r.Port = s.DefaultServerPort()
		p.srv = &srvState{r: r}
	}
	return p
}

// valueText is the reference's Value column of a keyword that does not
// set its own.
func valueText(d *kwDef) string {
	switch d.kind {
	case KindBool:
		return "bool"
	case KindInt:
		switch {
		case d.lo == math.MinInt32 && d.hi == math.MaxInt32:
			return "int"
		case d.hi == math.MaxInt32:
			return "int ≥ " + strconv.FormatInt(d.lo, 10)
		}
		return "int " + strconv.FormatInt(d.lo, 10) + "–" + strconv.FormatInt(d.hi, 10)
	case KindSeconds:
		if d.lo == math.MinInt32 {
			return "seconds"
		}
		return "seconds ≥ " + strconv.FormatInt(d.lo, 10)
	case KindPort:
		return "port"
	case KindAddress:
		if d.n == 2 {
			return "address device"
		}
		return "address"
	case KindMask:
		return "mask"
	case KindEnum:
		quoted := make([]string, len(d.enum))
		for i, c := range d.enum {
			quoted[i] = "`" + c + "`"
		}
		return strings.Join(quoted, " | ")
	}
	return "string"
}

// defaultText is the reference's Default column of a keyword that does
// not set its own: its value in an empty block, or none.
func defaultText(scope string, d *kwDef) string {
	if d.get == nil {
		return "—"
	}
	v, err := d.get(defaultHolder(scope))
	if err != nil || v == nil {
		return "none"
	}
	s := strings.Join(v, " ")
	if s == "" {
		return "none"
	}
	if _, err := strconv.ParseInt(s, 10, 64); err == nil {
		return s
	}
	return "`" + s + "`"
}

// formOf describes a keyword's field on its page.
func formOf(name string, k Keyword, f *formDef) *Form {
	out := &Form{Page: f.page, Group: f.group,
		Inputs: append([]Input{{Name: name, Label: f.label, Help: f.help}}, f.more...)}
	switch {
	case k.Check && k.Kind == KindBool:
		// Unset is not 0 for a check extension: all three are offered.
		out.Input, out.Options = "select", []string{"=(not set)", "0=0 (no)", "1=1 (yes)"}
	case k.Check && k.Kind == KindEnum && k.Max == 0:
		out.Input, out.Options = "select", append([]string{"=(not set)"}, k.Choices...)
	case f.check || k.Kind == KindBool:
		out.Input = "check"
	case k.Kind == KindEnum && k.Max == 0:
		out.Input = "select"
		out.Options = f.options
		if len(out.Options) == 0 {
			out.Options = k.Choices
		}
		// An absence that means something no choice says (the global
		// network) is a choice of its own.
		blank := strings.ReplaceAll(k.Default, "`", "")
		if k.Default != "none" && !strings.HasPrefix(k.Default, "`") {
			out.Options = append([]string{"=" + blank}, out.Options...)
		}
	case k.Kind == KindInt || k.Kind == KindSeconds || k.Kind == KindPort:
		out.Input = "number"
	default:
		out.Input = "text"
	}
	return out
}
