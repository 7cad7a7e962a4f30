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

// block writes the keywords of one scope that differ from their defaults,
// in the table's order, each as `key = value...`; what the format cannot
// express fails with where: its block.
func (w *writer) block(t *kwTable, cur, def *parser, where string) {
	for _, e := range t.list {
		if e.get == nil {
			continue
		}
		v, err := e.get(cur)
		if err != nil {
			w.fail(fmt.Errorf("%s%s: %v", where, e.name, err))
			continue
		}
		if v == nil {
			continue
		}
		if !e.always {
			if dv, _ := e.get(def); slices.Equal(v, dv) {
				continue
			}
		}
		parts := []string{e.name, "="}
		for _, x := range v {
			tok, err := quoteToken(x, e.quoted)
			if err != nil {
				w.fail(fmt.Errorf("%s%s: %v", where, e.name, err))
				return
			}
			parts = append(parts, tok)
		}
		w.line(parts...)
	}
}

func (w *writer) global(gl *model.Global) {
	p := &parser{}
	p.cfg.Global = *gl
	w.block(globalKeywords, p, defaultHolder(ScopeGlobal), "")
}

func (w *writer) service(s *model.Service) {
	w.line("virtual", w.name("virtual", s.Name), "{")
	w.indent = "    "
	where := fmt.Sprintf("virtual %q: ", s.Name)
	w.block(virtualKeywords, &parser{cur: &svcState{s: *s}}, defaultHolder(ScopeVirtual), where)
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
	for i := range s.RealServers {
		w.b.WriteByte('\n')
		w.realServer(s, &s.RealServers[i])
	}
	w.indent = ""
	w.line("}")
}

func (w *writer) realServer(s *model.Service, r *model.RealServer) {
	w.indent = "    "
	w.line("server", w.name("server", r.Name), "{")
	w.indent = "        "
	def := defaultHolder(ScopeServer)
	def.srv.r.Port = s.DefaultServerPort()
	where := fmt.Sprintf("virtual %q: server %q: ", s.Name, r.Name)
	w.block(serverKeywords, &parser{cur: &svcState{s: *s}, srv: &srvState{r: *r}}, def, where)
	w.indent = "    "
	w.line("}")
}
