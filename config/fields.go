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
	p := &parser{}
	st := &svcState{s: *s, sorryPort: -1, extra: maps.Clone(s.Check.Extra)}
	st.s.Check.Extra = nil
	p.cur = st
	if err := setKeyword(p, virtualKeywords, key, values); err != nil {
		return nil, err
	}
	n := st.s
	n.Check.Extra = s.Check.Extra
	switch {
	case key == "sorry_server":
		// As closeVirtual resolves it: the real servers' default port
		// unless the value named one; 0.0.0.0 is none.
		n.Sorry = netip.AddrPort{}
		if st.sorry.IsValid() {
			port := DefaultServerPort(&n)
			if st.sorryPort >= 0 {
				port = uint16(st.sorryPort)
			}
			n.Sorry = netip.AddrPortFrom(st.sorry, port)
		}
	case extraByKey(key) != nil:
		n.Check.Extra = st.extra
	case key == "pmask" || key == "address":
		if n.VIP.IsValid() && n.Persistence.PrefixLen == familyBits(int(model.FamilyOf(n.VIP))) {
			n.Persistence.PrefixLen = 0
		}
	}
	*s = n
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
