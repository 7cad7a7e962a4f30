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
func setKeyword(p *parser, table map[string]*kwDef, key string, values []string) error {
	def := table[key]
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
