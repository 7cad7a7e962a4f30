package config

import (
	"fmt"
	"maps"
	"math"
	"net/netip"
	"strings"
	"time"

	"github.com/govs/govs/model"
)

// vipOf is the address whose family a service's masks take.
func vipOf(p *parser) netip.Addr { return vs(p).VIP }

var virtualKeywords = newTable(
	kwEntry{"active", boolVar(func(p *parser) *bool { return &vs(p).Active }).
		about("Only active services are installed.").on(PageVirtual, "Virtual server", "Active", "")},
	kwEntry{"address", (&kwDef{n: 2, kind: KindAddress, set: func(p *parser, v []token) error {
		a, err := p.host(v[0].text, true)
		if err != nil {
			return err
		}
		if v[1].text == "" {
			return fmt.Errorf("empty device")
		}
		vs(p).VIP, vs(p).Device = a, v[1].text
		return nil
	}}).getter(func(p *parser) ([]string, error) {
		if !vs(p).VIP.IsValid() {
			return nil, nil
		}
		return []string{vs(p).VIP.String(), vs(p).Device}, nil
	}).resetter(func(cur, def *parser) { vs(cur).VIP, vs(cur).Device = vs(def).VIP, vs(def).Device }).
		needed().
		about("The VIP and the interface (alias) it is brought up on. Also required for mark services. Missing or 0.0.0.0: an error for an active service, a warning otherwise.").
		on(PageVirtual, "Virtual server", "Virtual IP Address", "the floating IP").
		andInput("device", "Device", "alias the VIP is brought up on, e.g. eth0:1")},
	kwEntry{"vip_nmask", maskVar(func(p *parser) *int { return &vs(p).VIPPrefixLen }, vipOf).
		about("Netmask of the VIP.").on(PageVirtual, "Virtual server", "Virtual IP Network Mask", "e.g. 255.255.255.0; blank for none")},
	kwEntry{"port", portVar(func(p *parser) *uint16 { return &vs(p).Port }).
		about("Virtual port; the default real-server port. Port 0 needs `persistent` or `fwmark`.").
		on(PageVirtual, "Virtual server", "Application port", "")},
	kwEntry{"protocol", enumKW([]string{"tcp", "udp"}, true, model.ParseProto, func(p *parser) *model.Proto { return &vs(p).Proto },
		func(pr model.Proto) []string { return []string{strings.ToLower(pr.String())} }).
		about("The transport protocol.").on(PageVirtual, "Virtual server", "Protocol", "").labelled("tcp=TCP", "udp=UDP")},
	kwEntry{"fwmark", intVar(0, math.MaxUint32, func(p *parser) *uint32 { return &vs(p).FWMark }).
		about("Non-zero makes this a firewall-mark service.").
		on(PageVirtual, "Virtual server", "Firewall Mark", "0: none; a mark bundles the ports below")},
	kwEntry{"fwmark_ports", (&kwDef{n: 1, kind: KindText, set: func(p *parser, v []token) error {
		rs, err := parsePortRanges(v[0].text)
		if err != nil {
			return err
		}
		vs(p).MarkPorts = rs
		return nil
	}}).getter(func(p *parser) ([]string, error) {
		if len(vs(p).MarkPorts) == 0 {
			return nil, nil
		}
		return []string{vs(p).MarkPorts.String()}, nil
	}).resetter(func(cur, def *parser) { vs(cur).MarkPorts = vs(def).MarkPorts }).ofGovs().
		shown("`PORT[-PORT][,…]`").
		about("The ports of the VIP whose traffic carries the mark, so govs marks them itself instead of hand-written iptables rules (below).").
		on(PageVirtual, "Virtual server", "Firewall mark ports", "e.g. 80,443 or 10000-20000")},
	kwEntry{"scheduler", (&kwDef{n: 1, kind: KindEnum, enum: schedulerNames(), set: func(p *parser, v []token) error {
		s := model.Scheduler(v[0].text)
		if !s.Valid() {
			return fmt.Errorf("unknown scheduler %q (valid: %s)", v[0].text, schedulerList())
		}
		vs(p).Scheduler = s
		return nil
	}}).getter(func(p *parser) ([]string, error) { return []string{string(vs(p).Scheduler)}, nil }).
		resetter(func(cur, def *parser) { vs(cur).Scheduler = vs(def).Scheduler }).shown("name").
		about("Any of rr, wrr, lc, wlc, sed, nq, lblc, lblcr, dh, sh, mh, fo, ovf, twos (Piranha accepted only the first four and lblc, lblcr, dh, sh).").
		on(PageVirtual, "Scheduling", "Scheduling", "")},
	kwEntry{"scheduler_flags", (&kwDef{n: 1, kind: KindText, set: func(p *parser, v []token) error {
		f, err := model.ParseSchedFlags(v[0].text)
		if err != nil {
			return err
		}
		vs(p).SchedFlags = f
		return nil
	}}).getter(func(p *parser) ([]string, error) {
		if vs(p).SchedFlags == 0 {
			return nil, nil
		}
		return []string{vs(p).SchedFlags.Format(vs(p).Scheduler)}, nil
	}).resetter(func(cur, def *parser) { vs(cur).SchedFlags = vs(def).SchedFlags }).ofGovs().
		shown("`FLAG[,FLAG…]`").about("`ipvsadm -b` flags (below).").
		on(PageVirtual, "Scheduling", "Scheduler flags", "e.g. sh-fallback,sh-port")},
	// lvsd only tested persistent > 0, so a negative value meant "not
	// persistent" and is read that way.
	kwEntry{"persistent", field(secondsKW(math.MinInt32, func(p *parser, d time.Duration) {
		if d < 0 {
			p.warnf(p.line, "persistent %d is read as 0 (not persistent)", d/time.Second)
			d = 0
		}
		vs(p).Persistence.Timeout = d
	}), func(p *parser) *time.Duration { return &vs(p).Persistence.Timeout }, secondsText).
		about("Client affinity timeout; 0 is none. A negative value (which Piranha treated as 0) is read as 0 with a warning.").
		on(PageVirtual, "Scheduling", "Persistence (seconds)", "0: off")},
	// Piranha turned the literal all-ones mask into "unset"; the kernel's
	// default is the full address anyway.
	kwEntry{"pmask", maskVar(func(p *parser) *int { return &vs(p).Persistence.PrefixLen }, vipOf).
		setBy(maskKW(func(p *parser, m maskResult) {
			if m.ones {
				m.bits = 0
			}
			vs(p).Persistence.PrefixLen = m.bits
		})).
		about("Persistence granularity. `255.255.255.255` (and the family's full length) means unset, as in Piranha. Must fit the VIP's family.").
		on(PageVirtual, "Scheduling", "Persistence Network Mask", "blank: unused (the full address)")},
	kwEntry{"expire_quiescent", boolVar(func(p *parser) *bool { return &vs(p).Persistence.ExpireQuiescent }).ofGovs().
		about("Drop a persistence template whose real server is quiesced (weight 0) rather than honour it; warns without `persistent`.")},
	kwEntry{"one_packet", boolVar(func(p *parser) *bool { return &vs(p).OnePacket }).ofGovs().
		about("Schedule every UDP datagram on its own (`ipvsadm -o`); an error with `protocol = tcp`.").
		on(PageVirtual, "Scheduling", "One-packet scheduling (UDP)", "")},
	kwEntry{"max_conns", intVar(0, math.MaxInt32, func(p *parser) *int { return &vs(p).MaxConns }).ofGovs().
		about("The most connections and UDP flows this service holds at once on the proxy data plane (0: no bound of its own); one more is refused (TCP: reset; UDP: the datagram dropped) and counted (`govs_service_refused_total`), and open ones carry on. The kernel plane refuses it: IPVS bounds real servers (`uthreshold`), not services.")},
	kwEntry{"ftp", boolVar(func(p *parser) *bool { return &vs(p).FTP }).ofGovs().
		about("Make the service FTP-aware: the data connections of active and passive FTP follow the control connection (below); needs `protocol = tcp`.")},
	kwEntry{"sorry_server", (&kwDef{n: 1, kind: KindText, set: func(p *parser, v []token) error {
		a, port, err := p.sorry(v[0].text)
		if err != nil {
			return err
		}
		p.cur.sorry, p.cur.sorryPort = a, port
		return nil
	}}).getter(func(p *parser) ([]string, error) {
		s := vs(p)
		switch {
		case !s.Sorry.IsValid():
			return nil, nil
		case s.Sorry.Port() == s.DefaultServerPort():
			return []string{s.Sorry.Addr().String()}, nil
		}
		return []string{s.Sorry.String()}, nil
	}).resetter(func(cur, def *parser) { vs(cur).Sorry, cur.cur.sorry = netip.AddrPort{}, netip.Addr{} }).
		shown("address, or **govs** address:port / [v6]:port").
		about("Server used while every real server is down; without a port it gets the real servers' default port (below). 0.0.0.0 is none.").
		on(PageVirtual, "Virtual server", "Sorry Server", "IP or IP:PORT used while every real server is down")},
	kwEntry{"send", strVar(false, func(p *parser) *string { return &vs(p).Check.Send }).inQuotes().
		about("Probe text sent after connecting. One pair of quotes is removed; escapes such as `\\r\\n` are kept as written and translated by the health checker.").
		on(PageMonitor, "nanny", "Send", "escapes such as \\r\\n are sent as written in lvs.cf")},
	kwEntry{"expect", strVar(false, func(p *parser) *string { return &vs(p).Check.Expect }).inQuotes().
		about("Expected reply prefix (or regular expression with `use_regex`).").on(PageMonitor, "nanny", "Expect", "")},
	kwEntry{"use_regex", boolVar(func(p *parser) *bool { return &vs(p).Check.UseRegex }).
		about("`expect` is a regular expression.").on(PageMonitor, "nanny", "Treat expect string as a regular expression", "")},
	kwEntry{"send_program", strVar(false, func(p *parser) *string { return &vs(p).Check.SendProgram }).inQuotes().
		about("External check command; `%h` and `%p` become the real server's address and port. `send` is unused when it is set (warning).").
		on(PageMonitor, "nanny", "Sending Program", "%h is the real server's address; takes priority over Send")},
	kwEntry{"load_monitor", withChoices(strVar(false, func(p *parser) *string { return &vs(p).Check.LoadMonitor }).
		setBy(strKW(false, func(p *parser, s string) {
			if !knownLoadMonitor(s) {
				p.warnf(p.line, "load_monitor %q is not one of none, uptime, rup, ruptime; no load monitoring is done", s)
			}
			vs(p).Check.LoadMonitor = s
		})), "none", "uptime", "rup", "ruptime").byDefault("none").
		about("Weight adjustment from the real server's load; other values warn.").
		on(PageVirtual, "Monitoring", "Load monitoring tool", "")},
	kwEntry{"timeout", secondsVar(1, func(p *parser) *time.Duration { return &vs(p).Check.Interval }).
		about("Check period and check timeout.").
		on(PageVirtual, "Monitoring", "Service Timeout (seconds)", "before a real server is considered dead")},
	// nanny took a re-entry time of 0 to mean its default.
	kwEntry{"reentry", field(secondsKW(0, func(p *parser, d time.Duration) {
		if d == 0 {
			d = model.DefaultReentry
		}
		vs(p).Check.Reentry = d
	}), func(p *parser) *time.Duration { return &vs(p).Check.Reentry }, secondsText).
		about("How long a failed server must pass checks to return; 0 means the default 180, as for nanny.").
		on(PageVirtual, "Monitoring", "Re-entry Time (seconds)", "before a failed real server is brought back")},
	kwEntry{"quiesce_server", boolVar(func(p *parser) *bool { return &vs(p).Check.Quiesce }).
		about("On failure set the weight to 0 instead of removing the server.").
		on(PageVirtual, "Monitoring", "Quiesce server", "weight 0 on failure instead of removal")},
	kwEntry{"client_monitor", ignoredKW(1, whyNoNanny).about("nanny's client monitoring.")},
	kwEntry{"start_cmd", ignoredKW(1, whyFOS).about("Failover services only.")},
	kwEntry{"stop_cmd", ignoredKW(1, whyFOS).about("Failover services only.")},
	kwEntry{"master", ignoredKW(1, "legacy keyword, unused").about("Legacy.")},
	kwEntry{"dirs", (&kwDef{n: -1, kind: KindText, set: checkDirs, ignored: "legacy keyword, unused"}).shown("`[ DIR … ]`").
		about("Legacy. The brackets may also be glued to the first and last items.")},
)

var serverKeywords = newTable(
	kwEntry{"address", hostVar(true, func(p *parser) *netip.Addr { return &rs(p).Addr }).needed().
		about("The real server. Missing or 0.0.0.0: an error when active, a warning otherwise.").
		on(PageServer, "", "Address", "")},
	kwEntry{"active", boolVar(func(p *parser) *bool { return &rs(p).Active }).
		about("Only active real servers are used.").on(PageServer, "", "Active", "")},
	kwEntry{"weight", intVar(0, 65535, func(p *parser) *int { return &rs(p).Weight }).
		about("Scheduling weight; 0 is quiescent.").on(PageServer, "", "Weight", "0-65535; 0 quiesces")},
	kwEntry{"port", field(portKW(func(p *parser, port uint16) {
		rs(p).Port = port
		p.srv.portSet = true
	}), func(p *parser) *uint16 { return &rs(p).Port }, func(v uint16) ([]string, error) { return []string{fmt.Sprint(v)}, nil }).
		byDefault("the virtual port").
		about("Real server port (a service name is accepted too, which Piranha did not). For a firewall-mark service see below.").
		on(PageServer, "", "Port", "blank: the virtual server's port")},
	kwEntry{"uthreshold", intVar(0, math.MaxUint32, func(p *parser) *uint32 { return &rs(p).UpperThreshold }).ofGovs().
		about("Upper connection limit (`ipvsadm -x`): over it the server takes no new connections until it falls under `lthreshold`; 0 is unset.").
		on(PageServer, "", "Upper connection threshold", "0: unset")},
	kwEntry{"lthreshold", intVar(0, math.MaxUint32, func(p *parser) *uint32 { return &rs(p).LowerThreshold }).ofGovs().
		about("Lower connection limit (`ipvsadm -y`); must not exceed `uthreshold` when both are set; 0 is unset.").
		on(PageServer, "", "Lower connection threshold", "0: unset")},
	kwEntry{"network", forwardVar(func(p *parser) *model.Forward { return &rs(p).Forward }).ofGovs().
		byDefault("the global `network`").about("This server's forwarding method, overriding the global `network`.").
		on(PageServer, "", "Forwarding", "").labelled("nat=NAT", "direct=Direct Routing", "tunnel=Tunneling")},
	kwEntry{"tunnel_type", enumKW([]string{"ipip", "gue", "gre"}, true, model.ParseTunnelType,
		func(p *parser) *model.TunnelType { return &rs(p).Tunnel },
		func(t model.TunnelType) []string { return []string{t.String()} }).ofGovs().
		about("Encapsulation of a tunnel-mode server; warns unless the server's forwarding is `tunnel`.")},
	kwEntry{"proxy_protocol", intVar(0, 2, func(p *parser) *int { return &rs(p).ProxyProtocol }).ofGovs().
		about("PROXY protocol header the proxy data plane sends to this server before the client's bytes: 0 off, else the version.")},
	// Some Piranha GUI versions wrote a per-server netmask that no daemon read.
	kwEntry{"nmask", ignoredKW(1, "real-server netmask, unused").
		about("A per-server netmask some Piranha tool versions wrote and no daemon read.")},
)

// The health-check extensions join the virtual block's keywords, after
// the nanny ones, in checkExtras's order.
func init() {
	for i := range checkExtras {
		d := &checkExtras[i]
		kind, lo, hi, enum := d.describe()
		def := &kwDef{n: 1, kind: kind, lo: lo, hi: hi, enum: enum, set: func(p *parser, v []token) error {
			if err := d.validate(v[0].text); err != nil {
				return err
			}
			if p.cur.extra == nil {
				p.cur.extra = map[string]string{}
			}
			p.cur.extra[d.key] = v[0].text
			return nil
		}, get: func(p *parser) ([]string, error) {
			if v, ok := vs(p).Check.Extra[d.key]; ok {
				return []string{v}, nil
			}
			return nil, nil
		}, reset: func(cur, _ *parser) {
			ex := maps.Clone(vs(cur).Check.Extra)
			delete(ex, d.key)
			if len(ex) == 0 {
				ex = nil
			}
			vs(cur).Check.Extra, cur.cur.extra = ex, maps.Clone(ex)
		}}
		def.ofGovs().on(PageMonitor, "govs checks", d.key, "")
		def.value, def.example = d.value, d.example
		virtualKeywords.add(kwEntry{d.key, def})
	}
}
