package config

import (
	"fmt"
	"maps"
	"net/netip"

	"github.com/govs/govs/model"
)

// Setting keywords one at a time: the web tool and the REST API change a
// configuration through these, which run the parser's own keyword tables,
// so that a value means the same whether it is typed into lvs.cf or into
// a form (port = http, hex numbers, sorry_server = 0.0.0.0 as "none",
// booleans as 0 and 1) and is refused with the same words.

// SetGlobal sets a router-wide keyword on g as lvs.cf's `key = values...`
// would. It returns the parser's notes (such as an address read in
// inet_aton form) and, for a value it refuses, the reason.
func SetGlobal(g *model.Global, key string, values ...string) ([]Finding, error) {
	p := &parser{}
	p.cfg.Global = *g
	if err := setKeyword(p, globalKeywords, key, values); err != nil {
		return nil, err
	}
	*g = p.cfg.Global
	return p.warns, nil
}

// SetService sets a virtual block's keyword on s, check keywords
// included, as lvs.cf's `key = values...` in its block would.
func SetService(s *model.Service, key string, values ...string) ([]Finding, error) {
	// The extensions are a copy, so that a refused value leaves s alone.
	st := &svcState{s: *s, sorryPort: -1, extra: maps.Clone(s.Check.Extra)}
	p := &parser{cur: st}
	if err := setKeyword(p, virtualKeywords, key, values); err != nil {
		return nil, err
	}
	if key == "sorry_server" {
		// Replaced, or none for 0.0.0.0; finish gives it its port.
		st.s.Sorry = netip.AddrPort{}
	}
	st.finish()
	*s = st.s
	return p.warns, nil
}

// SetServer sets a server block's keyword on r, a real server of s.
func SetServer(s *model.Service, r *model.RealServer, key string, values ...string) ([]Finding, error) {
	p := &parser{cur: &svcState{s: *s}, srv: &srvState{r: *r}}
	if err := setKeyword(p, serverKeywords, key, values); err != nil {
		return nil, err
	}
	*r = p.srv.r
	return p.warns, nil
}

// setKeyword runs one keyword's entry of table on values. Each value is
// one token, taken as written: quoting is the file's business, not a
// form's.
func setKeyword(p *parser, table *kwTable, key string, values []string) error {
	def := table.lookup(key)
	if def == nil {
		return fmt.Errorf("unknown keyword %q", key)
	}
	if def.n >= 0 && len(values) != def.n {
		return fmt.Errorf("%s takes %d value(s), not %d", key, def.n, len(values))
	}
	toks := make([]token, len(values))
	for i, v := range values {
		toks[i] = token{text: v, quote: '"'}
	}
	return def.set(p, toks)
}

// GetGlobal returns a router-wide keyword's value tokens in g as Write
// writes them (a form shows them so), nil when it is unset.
func GetGlobal(g *model.Global, key string) ([]string, error) {
	p := &parser{}
	p.cfg.Global = *g
	return getKeyword(p, globalKeywords, key)
}

// GetService returns a virtual block's keyword's value tokens in s.
func GetService(s *model.Service, key string) ([]string, error) {
	return getKeyword(&parser{cur: &svcState{s: *s}}, virtualKeywords, key)
}

// GetServer returns a server block's keyword's value tokens in r, a real
// server of s.
func GetServer(s *model.Service, r *model.RealServer, key string) ([]string, error) {
	return getKeyword(&parser{cur: &svcState{s: *s}, srv: &srvState{r: *r}}, serverKeywords, key)
}

func getKeyword(p *parser, table *kwTable, key string) ([]string, error) {
	def := table.lookup(key)
	switch {
	case def == nil:
		return nil, fmt.Errorf("unknown keyword %q", key)
	case def.get == nil:
		return nil, nil
	}
	return def.get(p)
}

// ResetGlobal gives a router-wide keyword of g the value an lvs.cf
// without it gives, as a form's cleared field asks.
func ResetGlobal(g *model.Global, key string) error {
	p := &parser{}
	p.cfg.Global = *g
	if err := resetKeyword(p, globalKeywords, ScopeGlobal, key); err != nil {
		return err
	}
	*g = p.cfg.Global
	return nil
}

// ResetService gives a virtual block's keyword of s the value a block
// without it gives.
func ResetService(s *model.Service, key string) error {
	st := &svcState{s: *s, sorryPort: -1, extra: maps.Clone(s.Check.Extra)}
	if err := resetKeyword(&parser{cur: st}, virtualKeywords, ScopeVirtual, key); err != nil {
		return err
	}
	*s = st.s
	return nil
}

// ResetServer gives a server block's keyword of r, a real server of s,
// the value a block without it gives (the port: s's default port).
func ResetServer(s *model.Service, r *model.RealServer, key string) error {
	p := &parser{cur: &svcState{s: *s}, srv: &srvState{r: *r}}
	if err := resetKeyword(p, serverKeywords, ScopeServer, key); err != nil {
		return err
	}
	*r = p.srv.r
	return nil
}

func resetKeyword(p *parser, table *kwTable, scope, key string) error {
	def := table.lookup(key)
	switch {
	case def == nil:
		return fmt.Errorf("unknown keyword %q", key)
	case def.reset == nil:
		return nil
	}
	d := defaultHolder(scope)
	if scope == ScopeServer {
		d.srv.r.Port = p.cur.s.DefaultServerPort()
	}
	def.reset(p, d)
	return nil
}
