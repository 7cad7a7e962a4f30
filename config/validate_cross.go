package config

import (
	"fmt"
	"sort"

	"github.com/govs/govs/model"
)

// Checks across the configuration: what services cannot share, what a
// plane cannot carry, what the file cannot express.

// conflicts finds what two services cannot share: a name, a key, or a
// marked port on the same VIP.
func (k *checker) conflicts() {
	svcs := k.c.Services
	names := map[string]int{}
	keys := map[model.ServiceKey]int{}
	for i := range svcs {
		s := &svcs[i]
		if s.Name != "" {
			if prev, dup := names[s.Name]; dup {
				k.errorf(ssite(i, ""), "duplicate virtual name %q, also %s", s.Name, k.svcRef(prev))
			} else {
				names[s.Name] = i
			}
		}
		if !usableVIP(s) || k.bad(ssite(i, ""), "port", "protocol", "fwmark") {
			continue
		}
		key := s.Key()
		if prev, dup := keys[key]; dup {
			k.problem(s.Active && svcs[prev].Active, ssite(i, ""), "same service (%s) as %s", key, k.svcRef(prev))
		} else {
			keys[key] = i
		}
	}
	// Marked ports: a mark service owns its ports on its VIP and protocol.
	for i := range svcs {
		a := &svcs[i]
		if a.FWMark == 0 || len(a.MarkPorts) == 0 || !usableVIP(a) || k.bad(ssite(i, ""), "fwmark_ports", "protocol") {
			continue
		}
		for j := range svcs {
			b := &svcs[j]
			if i == j || !usableVIP(b) || b.VIP != a.VIP || b.Proto != a.Proto || k.bad(ssite(j, ""), "protocol") {
				continue
			}
			if b.FWMark != 0 && j < i && len(b.MarkPorts) > 0 && !k.bad(ssite(j, ""), "fwmark_ports") {
				for _, ra := range a.MarkPorts {
					for _, rb := range b.MarkPorts {
						if overlaps(ra, rb) {
							k.problem(a.Active && b.Active, ssite(i, "fwmark_ports"),
								"fwmark_ports %s overlaps %s of %s on %s", ra, rb, k.svcRef(j), a.VIP)
						}
					}
				}
			}
			if b.FWMark == 0 && a.MarkPorts.Contains(b.Port) && !k.bad(ssite(j, ""), "port") {
				k.warnf(ssite(j, ""), "port %d of %s is also marked by %s, which takes its traffic",
					b.Port, b.VIP, k.svcRef(i))
			}
		}
	}
}

func usableVIP(s *model.Service) bool { return s.VIP.IsValid() && !s.VIP.IsUnspecified() }

// plane reports what the data plane cannot do, as errors (CheckPlane) or
// warnings (Parse). Only active services and real servers count: an
// inactive one is never installed, and refusing to run because of it would
// punish keeping a spare entry in the file. "auto" picks a plane at run
// time, so nothing is known to be impossible yet.
func (k *checker) plane(c model.Capabilities, asErrors bool) {
	report := k.warnf
	if asErrors {
		report = k.errorf
	}
	why := func(key string) string { return c.Why[key] }
	gl := &k.c.Global
	if gl.MaxConns != 0 && !c.MaxConns {
		report(gsite("max_conns"), "%s", why("max_conns"))
	}
	inherits := false
	for i := range k.c.Services {
		s := &k.c.Services[i]
		if !s.Active {
			continue
		}
		if s.MaxConns != 0 && !c.ServiceMaxConns {
			report(ssite(i, "max_conns"), "%s", why("service max_conns"))
		}
		if s.Sorry.IsValid() {
			inherits = true
		}
		vfam := model.Family(0)
		if s.VIP.IsValid() {
			vfam = model.FamilyOf(s.VIP)
		}
		for j := range s.RealServers {
			r := &s.RealServers[j]
			if !r.Active {
				continue
			}
			if r.Forward == model.ForwardDefault {
				inherits = true
			} else if !c.Forwards(r.Forward) {
				report(rsite(i, j, "network"), "network = %s is not supported by %s (%s)", r.Forward, c.Label, why("network"))
			}
			if r.ProxyProtocol != 0 && !c.ProxyProtocol {
				report(rsite(i, j, "proxy_protocol"), "%s", why("proxy_protocol"))
			}
			if fwd := k.effective(r); vfam != 0 && r.Addr.IsValid() && model.FamilyOf(r.Addr) != vfam && c.Forwards(fwd) && !c.Mixes(fwd) {
				report(rsite(i, j, "address"), "%s cannot forward IPv%d traffic to IPv%d real server %s with network = %s (%s)",
					c.Label, vfam, model.FamilyOf(r.Addr), r.Addr, fwd, why("families"))
			}
		}
		if vfam != 0 && s.Sorry.IsValid() && model.FamilyOf(s.Sorry.Addr()) != vfam {
			// The sorry server is added with the router-wide method.
			if fwd := k.effective(&model.RealServer{}); c.Forwards(fwd) && !c.Mixes(fwd) {
				report(ssite(i, "sorry_server"), "%s cannot forward IPv%d traffic to IPv%d sorry server %s with network = %s",
					c.Label, vfam, model.FamilyOf(s.Sorry.Addr()), s.Sorry.Addr(), fwd)
			}
		}
	}
	if fwd := gl.Network; inherits && fwd != model.ForwardDefault && !c.Forwards(fwd) && !k.bad(gsite(""), "network") {
		report(gsite("network"), "network = %s is not supported by %s (%s)", fwd, c.Label, why("network"))
	}
}

// writable reports values Write cannot express, so the web tool learns
// before saving.
func (k *checker) writable() {
	gl := &k.c.Global
	for _, f := range []struct{ key, v string }{
		{"primary_shared", gl.PrimaryShared}, {"backup_shared", gl.BackupShared},
		{"nat_router", gl.NATRouterDev}, {"debug_level", gl.DebugLevel}, {"syncd_iface", gl.SyncdIface},
		{"active_cmd", gl.ActiveCmd}, {"inactive_cmd", gl.InactiveCmd}, {"rsh_command", gl.RSHCommand},
		{"ipvsadm", gl.IPVSAdm}, {"http_tls_cert", gl.HTTPTLSCert}, {"http_tls_key", gl.HTTPTLSKey},
		{"http_users", gl.HTTPUsers}, {"vrrp_interface", gl.VRRPInterface},
	} {
		if _, err := quoteToken(f.v, false); err != nil {
			k.errorf(gsite(f.key), "%s: %v", f.key, err)
		}
	}
	for i := range k.c.Services {
		s := &k.c.Services[i]
		for _, f := range []struct{ what, key, v string }{
			{"virtual name", "", s.Name}, {"address device", "address", s.Device},
			{"send", "send", s.Check.Send}, {"expect", "expect", s.Check.Expect},
			{"send_program", "send_program", s.Check.SendProgram}, {"load_monitor", "load_monitor", s.Check.LoadMonitor},
		} {
			if _, err := quoteToken(f.v, false); err != nil && f.v != "" {
				k.errorf(ssite(i, f.key), "%s: %v", f.what, err)
			}
		}
		keys := make([]string, 0, len(s.Check.Extra))
		for key := range s.Check.Extra {
			keys = append(keys, key)
		}
		sort.Strings(keys)
		for _, key := range keys {
			if _, err := quoteToken(s.Check.Extra[key], false); err != nil {
				k.errorf(ssite(i, key), "%s: %v", key, err)
			}
		}
		for j := range s.RealServers {
			if _, err := quoteToken(s.RealServers[j].Name, false); err != nil && s.RealServers[j].Name != "" {
				k.errorf(rsite(i, j, ""), "server name: %v", err)
			}
		}
	}
}

// portOfService describes the port a real server gets with DR or TUN.
func portOfService(s *model.Service) string {
	if s.FWMark != 0 {
		return "each marked port is kept"
	}
	return fmt.Sprintf("virtual port %d", s.Port)
}
