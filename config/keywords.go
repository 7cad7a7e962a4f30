package config

import (
	"fmt"
	"math"
	"net/netip"
	"strings"
	"time"

	"github.com/govs/govs/model"
)

// The lvs.cf vocabulary: every keyword of the global section, of a
// virtual block and of a server block, with how its value is read and
// where it goes in the model. Parse reads files through these tables and
// SetGlobal, SetService and SetServer read form fields through them.

// kwDef describes a keyword: how many value tokens it takes (-1: any), how
// to store them, and, for keywords govs accepts but does not act on, why.
type kwDef struct {
	n       int
	set     func(p *parser, v []token) error
	ignored string
	// What the value is, for the forms, the API schema and the docs: a
	// kind, its bounds or its choices.
	kind   Kind
	lo, hi int64
	enum   []string
}

// Helpers that build kwDefs for the common value types.

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

// secondsKW reads a whole number of seconds no smaller than lo.
func secondsKW(lo int64, store func(p *parser, d time.Duration)) *kwDef {
	d := intKW(lo, math.MaxInt32, func(p *parser, n int64) { store(p, time.Duration(n)*time.Second) })
	d.kind = KindSeconds
	return d
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

func ignoredKW(n int, reason string) *kwDef {
	return &kwDef{n: n, kind: KindText, set: func(*parser, []token) error { return nil }, ignored: reason}
}

func ignoredWith(d *kwDef, reason string) *kwDef {
	d.ignored = reason
	return d
}

func forwardKW(store func(p *parser, f model.Forward)) *kwDef {
	return &kwDef{n: 1, kind: KindEnum, enum: []string{"nat", "direct", "tunnel"}, set: func(p *parser, v []token) error {
		switch v[0].text {
		case "nat", "direct", "tunnel":
			f, _ := model.ParseForward(v[0].text)
			store(p, f)
			return nil
		}
		return fmt.Errorf("invalid argument %q (want nat, direct or tunnel)", v[0].text)
	}}
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

var globalKeywords = map[string]*kwDef{
	"serial_no":       intKW(math.MinInt32, math.MaxInt32, func(p *parser, n int64) { g(p).SerialNo = int(n) }),
	"primary":         hostKW(false, func(p *parser, a netip.Addr) { g(p).Primary = a }),
	"primary_private": hostKW(false, func(p *parser, a netip.Addr) { g(p).PrimaryPrivate = a }),
	"primary_shared":  ignoredWith(strKW(false, func(p *parser, s string) { g(p).PrimaryShared = s }), whySCSI),
	"service": {n: 1, kind: KindEnum, enum: []string{"lvs", "fos"}, set: func(p *parser, v []token) error {
		switch v[0].text {
		case "lvs":
		case "fos":
			p.warnf(p.line, "ignored: service = fos (%s; govs runs the virtual servers)", whyFOS)
		default:
			return fmt.Errorf("invalid argument %q (want lvs or fos)", v[0].text)
		}
		g(p).Service = v[0].text
		return nil
	}},
	"backup_active":  boolKW(func(p *parser, b bool) { g(p).BackupActive = b }),
	"backup":         hostKW(true, func(p *parser, a netip.Addr) { g(p).Backup = a }),
	"backup_private": hostKW(false, func(p *parser, a netip.Addr) { g(p).BackupPrivate = a }),
	"backup_shared":  ignoredWith(strKW(false, func(p *parser, s string) { g(p).BackupShared = s }), whySCSI),
	"heartbeat": ignoredWith(boolKW(func(p *parser, b bool) { g(p).Heartbeat = b }),
		"heartbeats are sent whenever backup_active = 1"),
	"heartbeat_port": portKW(func(p *parser, port uint16) { g(p).HeartbeatPort = port }),
	"keepalive":      secondsKW(1, func(p *parser, d time.Duration) { g(p).Keepalive = d }),
	"deadtime":       secondsKW(1, func(p *parser, d time.Duration) { g(p).Deadtime = d }),
	"network":        forwardKW(func(p *parser, f model.Forward) { g(p).Network = f }),
	"nat_router": {n: 2, kind: KindAddress, set: func(p *parser, v []token) error {
		a, err := p.host(v[0].text, false)
		if err != nil {
			return err
		}
		if v[1].text == "" {
			return fmt.Errorf("empty device")
		}
		g(p).NATRouter, g(p).NATRouterDev = a, v[1].text
		return nil
	}},
	"nat_nmask": maskKW(func(p *parser, m maskResult) { g(p).NATPrefixLen = m.bits }),
	"reservation_conflict_action": ignoredWith(&kwDef{n: 1, kind: KindEnum, enum: []string{"nothing", "preempt"}, set: func(p *parser, v []token) error {
		if v[0].text != "nothing" && v[0].text != "preempt" {
			return fmt.Errorf("invalid argument %q (want nothing or preempt)", v[0].text)
		}
		g(p).ReservationConflictAction = v[0].text
		return nil
	}}, whySCSI),
	"debug_level": ignoredWith(strKW(false, func(p *parser, s string) { g(p).DebugLevel = s }),
		"Piranha did not use it either"),
	// Piranha read monitor_links as an integer and tested it for non-zero.
	"monitor_links":             intKW(math.MinInt32, math.MaxInt32, func(p *parser, n int64) { g(p).MonitorLinks = n != 0 }),
	"syncdaemon":                boolKW(func(p *parser, b bool) { g(p).SyncDaemon = b }),
	"expire_quiescent_template": boolKW(func(p *parser, b bool) { g(p).ExpireQuiescentTemplate = b }),
	"expire_nodest_conn":        boolKW(func(p *parser, b bool) { g(p).ExpireNodestConn = b }),
	"syncd_iface":               strKW(true, func(p *parser, s string) { g(p).SyncdIface = s }),
	// pulse masked the id to the byte IPVS carries; a larger value worked
	// there, so it is accepted with its effective value.
	"syncd_id": intKW(math.MinInt32, math.MaxInt32, func(p *parser, n int64) {
		if n < 0 || n > 255 {
			p.warnf(p.line, "syncd_id %d is used as %d (it is masked to 0-255)", n, n&255)
		}
		g(p).SyncdID = int(n & 255)
	}),
	"tcp_timeout":    secondsKW(0, func(p *parser, d time.Duration) { g(p).TCPTimeout = d }),
	"tcpfin_timeout": secondsKW(0, func(p *parser, d time.Duration) { g(p).TCPFinTimeout = d }),
	"udp_timeout":    secondsKW(0, func(p *parser, d time.Duration) { g(p).UDPTimeout = d }),
	"active_cmd":     strKW(false, func(p *parser, s string) { g(p).ActiveCmd = s }),
	"http_listen": {n: 1, kind: KindText, set: func(p *parser, v []token) error {
		if _, err := netip.ParseAddrPort(v[0].text); err != nil {
			return fmt.Errorf("%q: want ADDRESS:PORT (e.g. 127.0.0.1:3636 or [::1]:3636)", v[0].text)
		}
		g(p).HTTPListen = v[0].text
		return nil
	}},
	"http_tls_cert":  strKW(true, func(p *parser, s string) { g(p).HTTPTLSCert = s }),
	"http_tls_key":   strKW(true, func(p *parser, s string) { g(p).HTTPTLSKey = s }),
	"http_users":     strKW(true, func(p *parser, s string) { g(p).HTTPUsers = s }),
	"metrics_auth":   boolKW(func(p *parser, b bool) { g(p).MetricsAuth = b }),
	"max_conns":      intKW(0, math.MaxInt32, func(p *parser, n int64) { g(p).MaxConns = int(n) }),
	"inactive_cmd":   strKW(false, func(p *parser, s string) { g(p).InactiveCmd = s }),
	"vrrp_vrid":      intKW(1, 255, func(p *parser, n int64) { g(p).VRRPVRID = int(n) }),
	"vrrp_priority":  intKW(1, 255, func(p *parser, n int64) { g(p).VRRPPriority = int(n) }),
	"vrrp_preempt":   boolKW(func(p *parser, b bool) { g(p).VRRPPreempt = b }),
	"vrrp_interface": strKW(true, func(p *parser, s string) { g(p).VRRPInterface = s }),
	"vrrp_unicast_peers": {n: 1, kind: KindText, set: func(p *parser, v []token) error {
		var peers []netip.Addr
		for f := range strings.SplitSeq(v[0].text, ",") {
			a, err := netip.ParseAddr(strings.TrimSpace(f))
			if err != nil || a.Zone() != "" {
				return fmt.Errorf("%q: want a comma-separated list of IP addresses", v[0].text)
			}
			peers = append(peers, a.Unmap())
		}
		g(p).VRRPUnicastPeers = peers
		return nil
	}},
	// VRRPv3 counts in centiseconds up to 4095; 10 ms is its finest step.
	"vrrp_advert_ms": intKW(10, 40950, func(p *parser, n int64) {
		g(p).VRRPAdvert = time.Duration(n/10*10) * time.Millisecond
	}),
	"state_sync_port": portKW(func(p *parser, port uint16) { g(p).StateSyncPort = port }),
	"hard_shutdown":   ignoredWith(boolKW(func(p *parser, b bool) { g(p).HardShutdown = b }), whyNoNanny),
	"rsh_command": ignoredWith(strKW(true, func(p *parser, s string) { g(p).RSHCommand = s }),
		"remote load monitoring is not supported"),
	"ipvsadm": ignoredWith(strKW(true, func(p *parser, s string) { g(p).IPVSAdm = s }), whyNoIPVSAdm),
	"sync":    ignoredWith(boolKW(func(*parser, bool) {}), "legacy file synchronisation flag, unused"),
	"dataplane": {n: 1, kind: KindEnum, enum: []string{"auto", "proxy", "ipvs"}, set: func(p *parser, v []token) error {
		switch v[0].text {
		case "proxy", "ipvs", "auto":
			g(p).Dataplane = v[0].text
			return nil
		}
		return fmt.Errorf("invalid argument %q (want proxy, ipvs or auto)", v[0].text)
	}},
}

var virtualKeywords = map[string]*kwDef{
	"active": boolKW(func(p *parser, b bool) { vs(p).Active = b }),
	"address": {n: 2, kind: KindAddress, set: func(p *parser, v []token) error {
		a, err := p.host(v[0].text, true)
		if err != nil {
			return err
		}
		if v[1].text == "" {
			return fmt.Errorf("empty device")
		}
		vs(p).VIP, vs(p).Device = a, v[1].text
		return nil
	}},
	"vip_nmask": maskKW(func(p *parser, m maskResult) { vs(p).VIPPrefixLen = m.bits }),
	"port":      portKW(func(p *parser, port uint16) { vs(p).Port = port }),
	"protocol": {n: 1, kind: KindEnum, enum: []string{"tcp", "udp"}, set: func(p *parser, v []token) error {
		proto, err := model.ParseProto(v[0].text)
		if err != nil {
			return fmt.Errorf("invalid argument %q (want tcp or udp)", v[0].text)
		}
		vs(p).Proto = proto
		return nil
	}},
	"fwmark": intKW(0, math.MaxUint32, func(p *parser, n int64) { vs(p).FWMark = uint32(n) }),
	"fwmark_ports": {n: 1, kind: KindText, set: func(p *parser, v []token) error {
		rs, err := parsePortRanges(v[0].text)
		if err != nil {
			return err
		}
		vs(p).MarkPorts = rs
		return nil
	}},
	"scheduler": {n: 1, kind: KindEnum, enum: schedulerNames(), set: func(p *parser, v []token) error {
		s := model.Scheduler(v[0].text)
		if !s.Valid() {
			return fmt.Errorf("unknown scheduler %q (valid: %s)", v[0].text, schedulerList())
		}
		vs(p).Scheduler = s
		return nil
	}},
	"scheduler_flags": {n: 1, kind: KindText, set: func(p *parser, v []token) error {
		f, err := model.ParseSchedFlags(v[0].text)
		if err != nil {
			return err
		}
		vs(p).SchedFlags = f
		return nil
	}},
	// lvsd only tested persistent > 0, so a negative value meant "not
	// persistent" and is read that way.
	"persistent": secondsKW(math.MinInt32, func(p *parser, d time.Duration) {
		if d < 0 {
			p.warnf(p.line, "persistent %d is read as 0 (not persistent)", d/time.Second)
			d = 0
		}
		vs(p).Persistence.Timeout = d
	}),
	// Piranha turned the literal all-ones mask into "unset"; the kernel's
	// default is the full address anyway.
	"pmask": maskKW(func(p *parser, m maskResult) {
		if m.ones {
			m.bits = 0
		}
		vs(p).Persistence.PrefixLen = m.bits
	}),
	"expire_quiescent": boolKW(func(p *parser, b bool) { vs(p).Persistence.ExpireQuiescent = b }),
	"one_packet":       boolKW(func(p *parser, b bool) { vs(p).OnePacket = b }),
	"ftp":              boolKW(func(p *parser, b bool) { vs(p).FTP = b }),
	"sorry_server": {n: 1, kind: KindText, set: func(p *parser, v []token) error {
		a, port, err := p.sorry(v[0].text)
		if err != nil {
			return err
		}
		p.cur.sorry, p.cur.sorryPort = a, port
		return nil
	}},
	"send":         strKW(false, func(p *parser, s string) { vs(p).Check.Send = s }),
	"expect":       strKW(false, func(p *parser, s string) { vs(p).Check.Expect = s }),
	"send_program": strKW(false, func(p *parser, s string) { vs(p).Check.SendProgram = s }),
	"use_regex":    boolKW(func(p *parser, b bool) { vs(p).Check.UseRegex = b }),
	"load_monitor": withChoices(strKW(false, func(p *parser, s string) {
		if !knownLoadMonitor(s) {
			p.warnf(p.line, "load_monitor %q is not one of none, uptime, rup, ruptime; no load monitoring is done", s)
		}
		vs(p).Check.LoadMonitor = s
	}), "none", "uptime", "rup", "ruptime"),
	"timeout":   secondsKW(1, func(p *parser, d time.Duration) { vs(p).Check.Interval = d }),
	"max_conns": intKW(0, math.MaxInt32, func(p *parser, n int64) { vs(p).MaxConns = int(n) }),
	// nanny took a re-entry time of 0 to mean its default.
	"reentry": secondsKW(0, func(p *parser, d time.Duration) {
		if d == 0 {
			d = model.DefaultReentry
		}
		vs(p).Check.Reentry = d
	}),
	"quiesce_server": boolKW(func(p *parser, b bool) { vs(p).Check.Quiesce = b }),
	"client_monitor": ignoredKW(1, whyNoNanny),
	"start_cmd":      ignoredKW(1, whyFOS),
	"stop_cmd":       ignoredKW(1, whyFOS),
	"master":         ignoredKW(1, "legacy keyword, unused"),
	"dirs":           {n: -1, kind: KindText, set: checkDirs, ignored: "legacy keyword, unused"},
}

var serverKeywords = map[string]*kwDef{
	"address": hostKW(true, func(p *parser, a netip.Addr) { rs(p).Addr = a }),
	"active":  boolKW(func(p *parser, b bool) { rs(p).Active = b }),
	"weight":  intKW(0, 65535, func(p *parser, n int64) { rs(p).Weight = int(n) }),
	"port": portKW(func(p *parser, port uint16) {
		rs(p).Port = port
		p.srv.portSet = true
	}),
	"uthreshold": intKW(0, math.MaxUint32, func(p *parser, n int64) { rs(p).UpperThreshold = uint32(n) }),
	"lthreshold": intKW(0, math.MaxUint32, func(p *parser, n int64) { rs(p).LowerThreshold = uint32(n) }),
	"network":    forwardKW(func(p *parser, f model.Forward) { rs(p).Forward = f }),
	"tunnel_type": {n: 1, kind: KindEnum, enum: []string{"ipip", "gue", "gre"}, set: func(p *parser, v []token) error {
		t, err := model.ParseTunnelType(v[0].text)
		if err != nil {
			return fmt.Errorf("invalid argument %q (want ipip, gue or gre)", v[0].text)
		}
		rs(p).Tunnel = t
		return nil
	}},
	"proxy_protocol": intKW(0, 2, func(p *parser, n int64) { rs(p).ProxyProtocol = int(n) }),
	// Some Piranha GUI versions wrote a per-server netmask that no daemon read.
	"nmask": ignoredKW(1, "real-server netmask, unused"),
}

func init() {
	for i := range checkExtras {
		d := &checkExtras[i]
		kind, lo, hi, enum := d.describe()
		virtualKeywords[d.key] = &kwDef{n: 1, kind: kind, lo: lo, hi: hi, enum: enum, set: func(p *parser, v []token) error {
			if err := d.validate(v[0].text); err != nil {
				return err
			}
			if p.cur.extra == nil {
				p.cur.extra = map[string]string{}
			}
			p.cur.extra[d.key] = v[0].text
			return nil
		}}
	}
}

func schedulerList() string { return strings.Join(schedulerNames(), ", ") }

func schedulerNames() []string {
	names := make([]string, len(model.Schedulers))
	for i, s := range model.Schedulers {
		names[i] = string(s)
	}
	return names
}

func knownLoadMonitor(s string) bool {
	switch s {
	case "", "none", "uptime", "rup", "ruptime":
		return true
	}
	return false
}

// sorry reads sorry_server: an address as Piranha wrote it, which takes the
// virtual port, or govs's address:port ([v6]:port) to name another port.
// 0.0.0.0 was Piranha's "none".
func (p *parser) sorry(s string) (netip.Addr, int, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		if ap.Addr().Zone() != "" {
			return netip.Addr{}, -1, fmt.Errorf("address %q must not have a zone", s)
		}
		if ap.Addr().Unmap().IsUnspecified() {
			return netip.Addr{}, -1, nil
		}
		return ap.Addr().Unmap(), int(ap.Port()), nil
	}
	a, err := p.host(s, true)
	if err != nil {
		return netip.Addr{}, -1, err
	}
	if a.IsUnspecified() {
		return netip.Addr{}, -1, nil
	}
	return a, -1, nil
}

// checkDirs accepts the legacy `dirs = [ a b c ]` list, also with the
// brackets glued to the first and last items, which Piranha rejected but
// is plainly meant the same.
func checkDirs(p *parser, v []token) error {
	if len(v) == 0 || !strings.HasPrefix(v[0].text, "[") {
		return fmt.Errorf("list expected (want: dirs = [ DIR ... ])")
	}
	for _, t := range v {
		if strings.HasSuffix(t.text, "]") && !(t.text == "[") {
			return nil
		}
	}
	return fmt.Errorf("list expected: missing \"]\"")
}

// parsePortRanges reads fwmark_ports: ports and ranges separated by commas,
// in one token. Overlaps are checked with the rest of the service.
func parsePortRanges(s string) (model.PortRanges, error) {
	var out model.PortRanges
	for _, part := range strings.Split(s, ",") {
		// A service name may itself hold a "-" (ftp-data), so try the whole
		// part as one port before reading it as a range.
		if a, err := ParsePort(part); err == nil {
			if a == 0 {
				return nil, fmt.Errorf("port 0 in %q cannot be marked", s)
			}
			out = append(out, model.PortRange{First: a, Last: a})
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := ParsePort(lo)
		if err != nil {
			return nil, fmt.Errorf("bad port %q in %q: %v", lo, s, err)
		}
		b := a
		if isRange {
			if b, err = ParsePort(hi); err != nil {
				return nil, fmt.Errorf("bad port %q in %q: %v", hi, s, err)
			}
		}
		if a == 0 {
			return nil, fmt.Errorf("port 0 in %q cannot be marked", s)
		}
		if a > b {
			return nil, fmt.Errorf("empty range %q in %q", part, s)
		}
		out = append(out, model.PortRange{First: a, Last: b})
	}
	return out, nil
}
