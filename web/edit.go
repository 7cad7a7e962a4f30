package web

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/govs/govs/config"
	"github.com/govs/govs/internal/suggest"
	"github.com/govs/govs/model"
)

// Fields are an edit's values keyed by their lvs.cf keyword, so that the
// forms, the REST API and the documentation all speak the file's language.
// A key that is absent leaves its setting alone.
type Fields map[string]string

// FieldErrors maps a field's keyword to what is wrong with it; the key ""
// holds problems that belong to no single field.
type FieldErrors map[string]string

func (e FieldErrors) add(key, msg string) {
	if _, dup := e[key]; !dup {
		e[key] = msg
	}
}

type fieldParser struct {
	f    Fields
	errs FieldErrors
	// set applies a keyword's value through config's keyword tables,
	// so a field reads as the same keyword in lvs.cf does.
	set func(key string, values ...string) ([]config.Finding, error)
}

// keyword sets key from its field, if given, as lvs.cf reads the value;
// a blank field calls clear (an empty input means "none" or "default").
func (p *fieldParser) keyword(key string, clear func()) {
	v, ok := p.has(key)
	switch {
	case !ok:
	case v == "":
		clear()
	default:
		notes, err := p.set(key, v)
		switch {
		case err != nil:
			p.errs.add(key, err.Error())
		case len(notes) > 0:
			// What a file gets away with under a warning, a form is asked
			// to say plainly (an address in inet_aton form, a negative
			// persistence).
			p.errs.add(key, notes[0].Message)
		}
	}
}

func (p *fieldParser) has(key string) (string, bool) {
	v, ok := p.f[key]
	return strings.TrimSpace(v), ok
}

// The pages' fields, from config's keyword tables; "name" is a block's
// name, not a keyword.
var (
	// GlobalKeys are the GLOBAL SETTINGS page's fields.
	GlobalKeys = config.FormInputs(config.PageGlobal)
	// RedundancyKeys are the REDUNDANCY page's fields.
	RedundancyKeys = config.FormInputs(config.PageRedundancy)
	// VirtualKeys are the VIRTUAL SERVER page's fields.
	VirtualKeys = append([]string{"name"}, config.FormInputs(config.PageVirtual)...)
	// MonitorKeys are the MONITORING SCRIPTS page's fields, the check
	// extensions included.
	MonitorKeys = config.FormInputs(config.PageMonitor)
	// ServiceKeys are the fields of a virtual server: both its pages.
	ServiceKeys = append(append([]string{}, VirtualKeys...), MonitorKeys...)
	// ServerKeys are the REAL SERVER fields.
	ServerKeys = append([]string{"name"}, config.FormInputs(config.PageServer)...)
)

func knownKeys(f Fields, keys []string, errs FieldErrors) {
	for k := range f {
		if !slices.Contains(keys, k) {
			errs.add(k, "unknown field "+strconv.Quote(k)+suggest.Hint(k, keys))
		}
	}
}

// scopeEdit is how a page's keywords reach the model: config's setters,
// readers and resets for one block.
type scopeEdit struct {
	set   func(key string, values ...string) ([]config.Finding, error)
	get   func(key string) ([]string, error)
	reset func(key string) error
	// what names the block in "a virtual server needs an address".
	what string
}

// keywords applies the fields of pages' keywords: a field that is not
// given leaves its keyword alone, a blank one resets it to what lvs.cf
// without the line means, any other is read as lvs.cf reads the value.
func (p *fieldParser) keywords(e scopeEdit, pages ...string) {
	for _, page := range pages {
		for _, k := range config.OnPage(page) {
			if len(k.Form.Inputs) == 1 {
				p.keyword(k.Name, func() { p.clear(e, k) })
				continue
			}
			p.multi(e, k)
		}
	}
}

// clear resets a keyword whose field was left blank; a required one is
// refused.
func (p *fieldParser) clear(e scopeEdit, k config.Keyword) {
	if k.Required {
		p.errs.add(k.Name, fmt.Sprintf("%s needs an %s", e.what, k.Name))
		return
	}
	if err := e.reset(k.Name); err != nil {
		p.errs.add(k.Name, err.Error())
	}
}

// multi applies a keyword of an address and a device, two fields on the
// page, either of which may be left out to keep what runs.
func (p *fieldParser) multi(e scopeEdit, k config.Keyword) {
	cur, _ := e.get(k.Name)
	vals := make([]string, len(k.Form.Inputs))
	given := false
	for i, in := range k.Form.Inputs {
		v, ok := p.has(in.Name)
		if !ok && i < len(cur) {
			v = cur[i]
		}
		vals[i], given = v, given || ok
	}
	if !given {
		return
	}
	if vals[0] == "" {
		p.clear(e, k)
		return
	}
	// A stand-in device, so that a bad address is named first.
	probe := slices.Clone(vals)
	for i := 1; i < len(probe); i++ {
		if probe[i] == "" {
			probe[i] = "eth0"
		}
	}
	notes, err := e.set(k.Name, probe...)
	switch {
	case err != nil:
		p.errs.add(k.Name, err.Error())
	case len(notes) > 0:
		p.errs.add(k.Name, notes[0].Message)
	case slices.Contains(vals[1:], ""):
		p.errs.add(k.Name, fmt.Sprintf("%s needs the device its address goes on (e.g. eth0)", e.what))
	}
}

func globalScope(g *model.Global) scopeEdit {
	return scopeEdit{what: "the router",
		set:   func(k string, v ...string) ([]config.Finding, error) { return config.SetGlobal(g, k, v...) },
		get:   func(k string) ([]string, error) { return config.GetGlobal(g, k) },
		reset: func(k string) error { return config.ResetGlobal(g, k) }}
}

func serviceScope(s *model.Service) scopeEdit {
	return scopeEdit{what: "a virtual server",
		set:   func(k string, v ...string) ([]config.Finding, error) { return config.SetService(s, k, v...) },
		get:   func(k string) ([]string, error) { return config.GetService(s, k) },
		reset: func(k string) error { return config.ResetService(s, k) }}
}

func serverScope(s *model.Service, r *model.RealServer) scopeEdit {
	return scopeEdit{what: "a real server",
		set:   func(k string, v ...string) ([]config.Finding, error) { return config.SetServer(s, r, k, v...) },
		get:   func(k string) ([]string, error) { return config.GetServer(s, r, k) },
		reset: func(k string) error { return config.ResetServer(s, r, k) }}
}

// EditGlobal applies GLOBAL SETTINGS and REDUNDANCY fields to g.
func EditGlobal(g *model.Global, f Fields) FieldErrors {
	errs := FieldErrors{}
	knownKeys(f, append(append([]string{}, GlobalKeys...), RedundancyKeys...), errs)
	e := globalScope(g)
	p := &fieldParser{f: f, errs: errs, set: e.set}
	p.keywords(e, config.PageGlobal, config.PageRedundancy)
	return errs
}

// EditService applies VIRTUAL SERVER and MONITORING SCRIPTS fields to s.
func EditService(s *model.Service, f Fields) FieldErrors {
	errs := FieldErrors{}
	knownKeys(f, ServiceKeys, errs)
	e := serviceScope(s)
	p := &fieldParser{f: f, errs: errs, set: e.set}
	if v, ok := p.has("name"); ok {
		if v == "" {
			errs.add("name", "a virtual server needs a name")
		}
		s.Name = v
	}
	p.keywords(e, config.PageVirtual, config.PageMonitor)
	return errs
}

// EditServer applies REAL SERVER fields to r of service s.
func EditServer(s *model.Service, r *model.RealServer, f Fields) FieldErrors {
	errs := FieldErrors{}
	knownKeys(f, ServerKeys, errs)
	e := serverScope(s, r)
	p := &fieldParser{f: f, errs: errs, set: e.set}
	if v, ok := p.has("name"); ok {
		if v == "" {
			errs.add("name", "a real server needs a name")
		}
		r.Name = v
	}
	p.keywords(e, config.PageServer)
	return errs
}

// pageFields are the fields of pages' keywords as Write writes their
// values (blank: unset), for a form to show.
func pageFields(f Fields, get func(key string) ([]string, error), pages ...string) Fields {
	for _, page := range pages {
		for _, k := range config.OnPage(page) {
			v, _ := get(k.Name)
			for i, in := range k.Form.Inputs {
				f[in.Name] = ""
				if i < len(v) {
					f[in.Name] = v[i]
				}
			}
		}
	}
	return f
}

// GlobalFields renders the global settings as Fields.
func GlobalFields(g *model.Global) Fields {
	return pageFields(Fields{}, globalScope(g).get, config.PageGlobal, config.PageRedundancy)
}

// ServiceFields renders a virtual server as Fields.
func ServiceFields(s *model.Service) Fields {
	return pageFields(Fields{"name": s.Name}, serviceScope(s).get, config.PageVirtual, config.PageMonitor)
}

// ServerFields renders r, a real server of s, as Fields.
func ServerFields(s *model.Service, r *model.RealServer) Fields {
	return pageFields(Fields{"name": r.Name}, serverScope(s, r).get, config.PageServer)
}

// validationErrors spreads config.Validate's findings over the fields they
// name. A finding reads "virtual NAME: keyword ...", so the first form
// keyword it mentions is the field it belongs next to.
func validationErrors(err error, keys []string) FieldErrors {
	errs := FieldErrors{}
	list, ok := err.(config.ErrorList)
	if !ok {
		errs.add("", err.Error())
		return errs
	}
	for _, f := range list {
		msg := f.Message
		placed := false
		best, bestAt := "", len(msg)+1
		for _, k := range keys {
			if i := indexWord(msg, k); i >= 0 && i < bestAt {
				best, bestAt = k, i
			}
		}
		if best != "" {
			if _, dup := errs[best]; !dup {
				errs[best] = msg
				placed = true
			}
		}
		if !placed {
			if prev, ok := errs[""]; ok {
				errs[""] = prev + "; " + msg
			} else {
				errs[""] = msg
			}
		}
	}
	return errs
}

// indexWord finds key in msg as a whole word.
func indexWord(msg, key string) int {
	from := 0
	for {
		i := strings.Index(msg[from:], key)
		if i < 0 {
			return -1
		}
		i += from
		end := i + len(key)
		okL := i == 0 || !isWordByte(msg[i-1])
		okR := end == len(msg) || !isWordByte(msg[end])
		if okL && okR {
			return i
		}
		from = i + 1
	}
}

func isWordByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// boolStr is a boolean as lvs.cf and the forms write it.
func boolStr(b bool) string {
	if b {
		return "1"
	}
	return "0"
}
