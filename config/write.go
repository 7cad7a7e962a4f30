package config

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/govs/govs/model"
)

// quoteToken renders s as one lvs.cf token. always asks for quotes even
// where a bare word would do, which Write uses for the probe strings so
// their exact text is visible. With no escapes in the grammar, a value
// holding both kinds of quote can only be written bare, and a line break
// never.
func quoteToken(s string, always bool) (string, error) {
	if strings.ContainsAny(s, "\r\n") {
		return "", errors.New("a value cannot contain a line break")
	}
	bare := s != "" && !strings.ContainsAny(s, " \t") && s[0] != '"' && s[0] != '\''
	if bare && !always {
		return s, nil
	}
	switch {
	case !strings.Contains(s, `"`):
		return `"` + s + `"`, nil
	case !strings.Contains(s, `'`):
		return `'` + s + `'`, nil
	case bare:
		return s, nil
	}
	return "", fmt.Errorf("%q holds both kinds of quote and a blank, which lvs.cf cannot express", s)
}

// writer accumulates output and the first error, so the emitting code
// reads as the file it produces.
type writer struct {
	b      strings.Builder
	err    error
	indent string
	defs   map[*kwTable]*blockDefaults
	holder *parser
}

func (w *writer) fail(err error) {
	if w.err == nil {
		w.err = err
	}
}

func (w *writer) line(parts ...string) {
	w.b.WriteString(w.indent)
	w.b.WriteString(strings.Join(parts, " "))
	w.b.WriteByte('\n')
}

// kv writes `key = value` with the value as one token.
func (w *writer) kv(key, value string) {
	w.kvq(key, value, false)
}

func (w *writer) kvq(key, value string, always bool) {
	t, err := quoteToken(value, always)
	if err != nil {
		w.fail(fmt.Errorf("%s: %v", key, err))
		return
	}
	w.line(key, "=", t)
}

func (w *writer) name(kind, name string) string {
	t, err := quoteToken(name, false)
	if err != nil {
		w.fail(fmt.Errorf("%s name: %v", kind, err))
	}
	return t
}

// Write writes c as canonical lvs.cf: global keywords first in a fixed
// order, then the virtual blocks with their server blocks, indented by four
// spaces per level. Values equal to their defaults are left out, so for
// every model Parse returns, Parse(Write(c)) equals c. Write fails only for
// values the format cannot express (a line break in a string, a fraction of
// a second, a check keyword it does not know); run Validate first for the
// rest.
func Write(out io.Writer, c *model.Config) error {
	w := &writer{}
	w.global(&c.Global)
	for i := range c.Services {
		w.b.WriteByte('\n')
		w.service(&c.Services[i])
	}
	if w.err != nil {
		return w.err
	}
	bw := bufio.NewWriter(out)
	if _, err := bw.WriteString(w.b.String()); err != nil {
		return err
	}
	return bw.Flush()
}

// block writes the keywords of one scope that differ from their defaults
// (defs, the tokens of each keyword of t in an empty block), in the
// table's order, each as `key = value...`; what the format cannot express
// fails with where: its block.
func (w *writer) block(t *kwTable, cur *parser, defs *blockDefaults, where blockName) {
	for i, e := range t.list {
		// A keyword that says cheaply whether it is at its default is
		// written exactly when it is not; the others are compared by
		// their tokens.
		same := e.same != nil && !e.always
		if e.get == nil || same && e.same(cur, defs.holder) {
			continue
		}
		v, err := e.get(cur)
		if err != nil {
			w.fail(fmt.Errorf("%s%s: %v", where.String(), e.name, err))
			continue
		}
		if v == nil || !same && !e.always && slices.Equal(v, defs.tokens[i]) {
			continue
		}
		w.b.WriteString(w.indent)
		w.b.WriteString(e.name)
		w.b.WriteString(" =")
		for _, x := range v {
			tok, err := quoteToken(x, e.quoted)
			if err != nil {
				w.fail(fmt.Errorf("%s%s: %v", where.String(), e.name, err))
				return
			}
			w.b.WriteByte(' ')
			w.b.WriteString(tok)
		}
		w.b.WriteByte('\n')
	}
}

// blockDefaults are an empty block: the model, and the tokens of each of
// its table's keywords.
type blockDefaults struct {
	holder *parser
	tokens [][]string
}

// defaults returns an empty block of scope, made once per Write. A real
// server's default port is its service's: the caller sets it on the
// holder, which the port keyword's same reads (its tokens, of no
// service in particular, are never compared).
func (w *writer) defaults(t *kwTable, scope string) *blockDefaults {
	if d, ok := w.defs[t]; ok {
		return d
	}
	d := &blockDefaults{holder: defaultHolder(scope), tokens: make([][]string, len(t.list))}
	for i, e := range t.list {
		if e.get != nil {
			d.tokens[i], _ = e.get(d.holder)
		}
	}
	if w.defs == nil {
		w.defs = map[*kwTable]*blockDefaults{}
	}
	w.defs[t] = d
	return d
}

// blockName names a block in Write's errors: nothing for the global
// section, `virtual "web": ` or `virtual "web": server "a": `.
type blockName struct {
	s *model.Service
	r *model.RealServer
}

func (b blockName) String() string {
	switch {
	case b.s == nil:
		return ""
	case b.r == nil:
		return fmt.Sprintf("virtual %q: ", b.s.Name)
	}
	return fmt.Sprintf("virtual %q: server %q: ", b.s.Name, b.r.Name)
}

func (w *writer) global(gl *model.Global) {
	p := &parser{}
	p.cfg.Global = *gl
	w.block(globalKeywords, p, w.defaults(globalKeywords, ScopeGlobal), blockName{})
}

func (w *writer) service(s *model.Service) {
	w.line("virtual", w.name("virtual", s.Name), "{")
	w.indent = "    "
	// One holder for every block: the getters read it.
	if w.holder == nil {
		w.holder = &parser{cur: &svcState{}, srv: &srvState{}}
	}
	p := w.holder
	p.cur.s = *s
	w.block(virtualKeywords, p, w.defaults(virtualKeywords, ScopeVirtual), blockName{s: s})
	var unknown []string
	for key := range s.Check.Extra {
		if extraByKey(key) == nil {
			unknown = append(unknown, key)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		w.fail(fmt.Errorf("virtual %q: unknown check keyword %q", s.Name, unknown[0]))
	}
	defs := w.defaults(serverKeywords, ScopeServer)
	defs.holder.srv.r.Port = s.DefaultServerPort()
	for i := range s.RealServers {
		r := &s.RealServers[i]
		w.b.WriteByte('\n')
		w.indent = "    "
		w.line("server", w.name("server", r.Name), "{")
		w.indent = "        "
		p.srv.r = *r
		w.block(serverKeywords, p, defs, blockName{s, r})
		w.indent = "    "
		w.line("}")
	}
	w.indent = ""
	w.line("}")
}
