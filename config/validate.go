package config

import (
	"fmt"
	"net/netip"
	"sort"
	"time"

	"github.com/govs/govs/model"
)

// Validate checks a model built elsewhere (the web tool edits models) with
// the checks Parse applies to a file. The error, when non-nil, is an
// ErrorList; as a model has no lines, each message names the virtual (and
// server) it concerns.
func Validate(c *model.Config) error {
	k := &checker{c: c}
	k.check()
	k.writable()
	if len(k.errs) > 0 {
		return ErrorList(k.errs)
	}
	return nil
}

// CheckPlane lists what the data plane whose capabilities are caps cannot
// do with c: the one check of a configuration against a plane, which
// `govs check --dataplane`, `govs run` and every edit go through
// (ParseForPlane, Result.CheckPlane). `govs run` refuses to start when it
// returns anything.
func CheckPlane(c *model.Config, caps model.Capabilities) []Finding {
	k := &checker{c: c}
	k.plane(caps, true)
	return k.errs
}

// positions locates the parts of a parsed model in its file.
type positions struct {
	global keyPos
	svcs   []svcPos
}

type svcPos struct {
	line int
	kp   keyPos
	srvs []srvPos
}

type srvPos struct {
	line int
	kp   keyPos
}

func (p *parser) positions() *positions {
	pos := &positions{global: p.gkp}
	for _, st := range p.svcs {
		sp := svcPos{line: st.line, kp: st.kp}
		for _, rs := range st.servers {
			sp.srvs = append(sp.srvs, srvPos{line: rs.line, kp: rs.kp})
		}
		pos.svcs = append(pos.svcs, sp)
	}
	return pos
}

// site is what a finding is about: a global keyword (svc < 0), a keyword of
// a virtual block (srv < 0) or of a server block. An empty key means the
// block itself.
type site struct {
	svc, srv int
	key      string
}

func gsite(key string) site           { return site{svc: -1, srv: -1, key: key} }
func ssite(i int, key string) site    { return site{svc: i, srv: -1, key: key} }
func rsite(i, j int, key string) site { return site{svc: i, srv: j, key: key} }

// checker runs the checks that look at more than one value. With pos (a
// parsed file) findings carry lines; without (a model from elsewhere) they
// carry the names of what they concern.
type checker struct {
	c     *model.Config
	file  string
	pos   *positions
	errs  []Finding
	warns []Finding
	// note follows every warning: why the plane check applies.
	note string
}

func (k *checker) kp(s site) (*keyPos, int) {
	switch {
	case k.pos == nil:
		return nil, 0
	case s.svc < 0:
		return &k.pos.global, 0
	case s.srv < 0:
		sp := &k.pos.svcs[s.svc]
		return &sp.kp, sp.line
	default:
		rp := &k.pos.svcs[s.svc].srvs[s.srv]
		return &rp.kp, rp.line
	}
}

// bad reports whether any of the keys of the block at s had a value Parse
// already refused; checks built on such values would only repeat the error.
func (k *checker) bad(s site, keys ...string) bool {
	kp, _ := k.kp(s)
	if kp == nil {
		return false
	}
	for _, key := range keys {
		if kp.bad[key] {
			return true
		}
	}
	return false
}

func (k *checker) finding(s site, msg string) Finding {
	kp, line := k.kp(s)
	if kp != nil {
		if l, ok := kp.lines[s.key]; ok && s.key != "" {
			line = l
		}
		return Finding{File: k.file, Line: line, Message: msg}
	}
	prefix := ""
	if s.svc >= 0 {
		prefix = "virtual " + quoteName(k.c.Services[s.svc].Name) + ": "
		if s.srv >= 0 {
			prefix += "server " + quoteName(k.c.Services[s.svc].RealServers[s.srv].Name) + ": "
		}
	}
	return Finding{Message: prefix + msg}
}

func (k *checker) errorf(s site, format string, args ...any) {
	k.errs = append(k.errs, k.finding(s, fmt.Sprintf(format, args...)))
}

func (k *checker) warnf(s site, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if k.note != "" {
		msg += "; " + k.note
	}
	k.warns = append(k.warns, k.finding(s, msg))
}

// problem is an error when hard, else a warning: a conflict between two
// inactive parts is harmless until someone activates them.
func (k *checker) problem(hard bool, s site, format string, args ...any) {
	if hard {
		k.errorf(s, format, args...)
	} else {
		k.warnf(s, format, args...)
	}
}

// svcRef names service i for a message about another one.
func (k *checker) svcRef(i int) string {
	ref := "virtual " + quoteName(k.c.Services[i].Name)
	if k.pos != nil {
		ref += fmt.Sprintf(" (line %d)", k.pos.svcs[i].line)
	}
	return ref
}

func (k *checker) srvRef(i, j int) string {
	ref := "server " + quoteName(k.c.Services[i].RealServers[j].Name)
	if k.pos != nil {
		ref += fmt.Sprintf(" (line %d)", k.pos.svcs[i].srvs[j].line)
	}
	return ref
}

// seconds checks a duration lvs.cf writes as whole seconds.
func (k *checker) seconds(s site, d, min time.Duration) {
	if k.bad(s, s.key) {
		return
	}
	if d%time.Second != 0 {
		k.errorf(s, "%s %v is not a whole number of seconds", s.key, d)
	} else if d < min {
		k.errorf(s, "%s %d must be at least %d", s.key, d/time.Second, min/time.Second)
	}
}

func (k *checker) check() {
	k.global()
	for i := range k.c.Services {
		k.service(i)
	}
	k.conflicts()
}

func (k *checker) global() {
	gl := &k.c.Global
	switch gl.Service {
	case "", "lvs", "fos":
	default:
		k.errorf(gsite("service"), "service %q is not lvs or fos", gl.Service)
	}
	if (gl.HTTPTLSCert == "") != (gl.HTTPTLSKey == "") {
		k.errorf(gsite("http_tls_cert"), "http_tls_cert and http_tls_key go together")
	}
	if gl.HTTPListen != "" && gl.HTTPUsers == "" {
		k.errorf(gsite("http_listen"), "http_listen needs http_users (the file govs passwd writes): the web tool never runs without a login")
	}
	if gl.MetricsAuth && gl.HTTPListen == "" {
		k.warnf(gsite("metrics_auth"), "metrics_auth has no effect without http_listen")
	}
	switch gl.Dataplane {
	case "", "proxy", "ipvs", "auto":
	default:
		k.errorf(gsite("dataplane"), "dataplane %q is not proxy, ipvs or auto", gl.Dataplane)
	}
	if gl.Network > model.ForwardTUN {
		k.errorf(gsite("network"), "network %d is not nat, direct or tunnel", gl.Network)
	}
	for _, a := range []struct {
		key  string
		addr netip.Addr
	}{{"primary", gl.Primary}, {"primary_private", gl.PrimaryPrivate}, {"backup_private", gl.BackupPrivate}} {
		if a.addr.IsValid() && a.addr.IsUnspecified() {
			k.errorf(gsite(a.key), "%s: invalid host name or ip address %s", a.key, a.addr)
		}
	}
	for _, a := range []struct {
		key  string
		addr netip.Addr
	}{{"primary", gl.Primary}, {"primary_private", gl.PrimaryPrivate}, {"backup", gl.Backup},
		{"backup_private", gl.BackupPrivate}, {"nat_router", gl.NATRouter}} {
		if a.addr.Zone() != "" {
			k.errorf(gsite(a.key), "%s %s must not have a zone", a.key, a.addr)
		}
	}
	if gl.BackupActive && !k.bad(gsite(""), "backup_active", "backup") &&
		(!gl.Backup.IsValid() || gl.Backup.IsUnspecified()) {
		k.warnf(gsite("backup_active"), "backup_active = 1 but no backup address is set; Piranha ignored backup_active then")
	}
	k.seconds(gsite("keepalive"), gl.Keepalive, time.Second)
	k.seconds(gsite("deadtime"), gl.Deadtime, time.Second)
	if gl.BackupActive && gl.Keepalive > 0 && gl.Deadtime <= gl.Keepalive && !k.bad(gsite(""), "keepalive", "deadtime") {
		k.warnf(gsite("deadtime"), "deadtime %v is not longer than keepalive %v: the partner is declared dead between two heartbeats",
			gl.Deadtime, gl.Keepalive)
	}
	if gl.NATRouter.IsValid() && gl.NATRouterDev == "" {
		k.errorf(gsite("nat_router"), "nat_router needs a device")
	}
	fam := 4
	if gl.NATRouter.IsValid() {
		fam = int(model.FamilyOf(gl.NATRouter))
	}
	k.prefix(gsite("nat_nmask"), gl.NATPrefixLen, fam)
	if gl.VRRPVRID < 0 || gl.VRRPVRID > 255 {
		k.errorf(gsite("vrrp_vrid"), "vrrp_vrid %d out of range (1-255)", gl.VRRPVRID)
	}
	if gl.VRRPPriority < 0 || gl.VRRPPriority > 255 {
		k.errorf(gsite("vrrp_priority"), "vrrp_priority %d out of range (1-255)", gl.VRRPPriority)
	}
	if gl.VRRPAdvert != 0 && (gl.VRRPAdvert < 10*time.Millisecond || gl.VRRPAdvert > 40950*time.Millisecond) {
		k.errorf(gsite("vrrp_advert_ms"), "vrrp_advert_ms %d out of range (10-40950)", gl.VRRPAdvert.Milliseconds())
	}
	if gl.SyncdID < 0 || gl.SyncdID > 255 {
		k.errorf(gsite("syncd_id"), "syncd_id %d out of range (0-255)", gl.SyncdID)
	}
	k.seconds(gsite("tcp_timeout"), gl.TCPTimeout, 0)
	k.seconds(gsite("tcpfin_timeout"), gl.TCPFinTimeout, 0)
	k.seconds(gsite("udp_timeout"), gl.UDPTimeout, 0)
	switch gl.ReservationConflictAction {
	case "", "nothing", "preempt":
	default:
		k.errorf(gsite("reservation_conflict_action"), "reservation_conflict_action %q is not nothing or preempt", gl.ReservationConflictAction)
	}
}

// prefix checks a prefix length against an address family.
func (k *checker) prefix(s site, n, family int) {
	if k.bad(s, s.key) {
		return
	}
	switch {
	case n < 0:
		k.errorf(s, "%s %d is not a prefix length", s.key, n)
	case n > familyBits(family):
		k.errorf(s, "%s /%d is too long for an IPv%d address", s.key, n, family)
	}
}

func (k *checker) service(i int) {
	s := &k.c.Services[i]
	at := func(key string) site { return ssite(i, key) }
	if s.Name == "" {
		k.errorf(at(""), "virtual block without a name")
	}
	switch {
	case k.bad(at(""), "address"):
	case !s.VIP.IsValid():
		k.problem(s.Active, at(""), "missing address (the VIP and its device: address = IP DEVICE)")
	case s.VIP.IsUnspecified():
		k.problem(s.Active, at("address"), "address %s is not a usable virtual IP", s.VIP)
	case s.VIP.Zone() != "":
		k.errorf(at("address"), "address %s must not have a zone", s.VIP)
	case s.Device == "":
		k.errorf(at("address"), "address needs a device (address = IP DEVICE)")
	}
	if s.VIP.IsValid() {
		fam := int(model.FamilyOf(s.VIP))
		k.prefix(at("vip_nmask"), s.VIPPrefixLen, fam)
		k.prefix(at("pmask"), s.Persistence.PrefixLen, fam)
	}
	if s.Proto != model.ProtoTCP && s.Proto != model.ProtoUDP {
		k.errorf(at("protocol"), "protocol %v is not tcp or udp", s.Proto)
	}
	if s.FWMark == 0 && s.Port == 0 && !s.Persistence.Enabled() && !k.bad(at(""), "port", "persistent") {
		k.errorf(at("port"), "port 0 needs persistent > 0 or a firewall mark")
	}
	if len(s.MarkPorts) > 0 && !k.bad(at(""), "fwmark_ports") {
		if s.FWMark == 0 && !k.bad(at(""), "fwmark") {
			k.errorf(at("fwmark_ports"), "fwmark_ports needs fwmark")
		}
		k.portRanges(at("fwmark_ports"), s.MarkPorts)
	}
	if !s.Scheduler.Valid() {
		k.errorf(at("scheduler"), "unknown scheduler %q (valid: %s)", s.Scheduler, schedulerList())
	}
	if s.SchedFlags != 0 && s.Scheduler != model.SchedSH && s.Scheduler != model.SchedMH && !k.bad(at(""), "scheduler") {
		k.warnf(at("scheduler_flags"), "scheduler_flags only affect the sh and mh schedulers, not %s", s.Scheduler)
	}
	k.seconds(at("persistent"), s.Persistence.Timeout, 0)
	if !s.Persistence.Enabled() && !k.bad(at(""), "persistent") {
		if s.Persistence.PrefixLen != 0 {
			k.warnf(at("pmask"), "pmask has no effect without persistent")
		}
		if s.Persistence.ExpireQuiescent {
			k.warnf(at("expire_quiescent"), "expire_quiescent has no effect without persistent")
		}
	}
	if s.OnePacket && s.Proto != model.ProtoUDP && !k.bad(at(""), "protocol") {
		k.errorf(at("one_packet"), "one_packet needs protocol = udp")
	}
	if s.FTP && s.Proto != model.ProtoTCP && !k.bad(at(""), "protocol") {
		k.errorf(at("ftp"), "ftp needs protocol = tcp")
	}
	if s.FTP && s.FWMark != 0 && !k.bad(at(""), "fwmark", "fwmark_ports", "port") {
		// The control connection is what the FTP helpers follow: a mark
		// service that does not carry port 21 has none.
		switch {
		case len(s.MarkPorts) > 0 && !s.MarkPorts.Contains(21):
			k.errorf(at("ftp"), "ftp on a firewall-mark service needs the control port 21 in fwmark_ports")
		case len(s.MarkPorts) == 0 && s.Port != 21:
			k.errorf(at("ftp"), "ftp on a firewall-mark service without fwmark_ports needs port = 21")
		}
		if !s.Persistence.Enabled() && !k.bad(at(""), "persistent") {
			k.warnf(at("ftp"), "ftp on a firewall-mark service without persistent: with the kernel plane, passive data connections may reach another real server than their control connection")
		}
	}
	if s.Sorry.IsValid() {
		switch a := s.Sorry.Addr(); {
		case a.IsUnspecified():
			k.errorf(at("sorry_server"), "sorry_server %s is not a usable address", a)
		case a.Zone() != "":
			k.errorf(at("sorry_server"), "sorry_server %s must not have a zone", a)
		}
	}
	k.seconds(at("timeout"), s.Check.Interval, time.Second)
	k.seconds(at("reentry"), s.Check.Reentry, 0)
	if s.Check.Send != "" && s.Check.SendProgram != "" {
		k.warnf(at("send"), "send is not used when send_program is set")
	}
	if !knownLoadMonitor(s.Check.LoadMonitor) && k.pos == nil {
		k.warnf(at("load_monitor"), "load_monitor %q is not one of none, uptime, rup, ruptime", s.Check.LoadMonitor)
	}
	if k.pos == nil {
		keys := make([]string, 0, len(s.Check.Extra))
		for key := range s.Check.Extra {
			keys = append(keys, key)
		}
		sort.Strings(keys)
		for _, key := range keys {
			d := extraByKey(key)
			if d == nil {
				k.errorf(at(key), "unknown check keyword %q", key)
				continue
			}
			if err := d.validate(s.Check.Extra[key]); err != nil {
				k.errorf(at(key), "%s: %v", key, err)
			}
		}
	}
	names := map[string]int{}
	dests := map[model.DestKey]int{}
	for j := range s.RealServers {
		r := &s.RealServers[j]
		k.realServer(i, j)
		if r.Name == "" {
			continue
		}
		if prev, dup := names[r.Name]; dup {
			k.errorf(rsite(i, j, ""), "duplicate server name %q, also %s", r.Name, k.srvRef(i, prev))
		} else {
			names[r.Name] = j
		}
		if !r.Addr.IsValid() || r.Addr.IsUnspecified() || k.bad(rsite(i, j, ""), "address", "port") {
			continue
		}
		key := r.Key()
		if prev, dup := dests[key]; dup {
			other := &s.RealServers[prev]
			k.problem(r.Active && other.Active, rsite(i, j, ""), "real server %s is already %s", key, k.srvRef(i, prev))
		} else {
			dests[key] = j
		}
	}
}

func (k *checker) realServer(i, j int) {
	s := &k.c.Services[i]
	r := &s.RealServers[j]
	at := func(key string) site { return rsite(i, j, key) }
	if r.Name == "" {
		k.errorf(at(""), "server block without a name")
	}
	switch {
	case k.bad(at(""), "address"):
	case !r.Addr.IsValid():
		k.problem(r.Active, at(""), "missing address")
	case r.Addr.IsUnspecified():
		k.problem(r.Active, at("address"), "address %s is not a usable real server address", r.Addr)
	case r.Addr.Zone() != "":
		k.errorf(at("address"), "address %s must not have a zone", r.Addr)
	}
	if r.Weight < 0 || r.Weight > 65535 {
		k.errorf(at("weight"), "weight %d out of range (0-65535)", r.Weight)
	}
	if r.UpperThreshold != 0 && r.LowerThreshold > r.UpperThreshold && !k.bad(at(""), "uthreshold", "lthreshold") {
		k.errorf(at("lthreshold"), "lthreshold %d is above uthreshold %d", r.LowerThreshold, r.UpperThreshold)
	}
	if r.Forward > model.ForwardTUN {
		k.errorf(at("network"), "network %d is not nat, direct or tunnel", r.Forward)
	}
	if r.Tunnel > model.TunnelGRE {
		k.errorf(at("tunnel_type"), "tunnel_type %d is not ipip, gue or gre", r.Tunnel)
	}
	fwd := k.effective(r)
	if r.Tunnel != model.TunnelIPIP && fwd != model.ForwardTUN {
		k.warnf(at("tunnel_type"), "tunnel_type only applies to network = tunnel")
	}
	if r.ProxyProtocol < 0 || r.ProxyProtocol > 2 {
		k.errorf(at("proxy_protocol"), "proxy_protocol %d out of range (0-2)", r.ProxyProtocol)
	}
	if (fwd == model.ForwardDR || fwd == model.ForwardTUN) && r.Port != 0 && r.Port != s.Port && !k.bad(at(""), "port") {
		k.warnf(at("port"), "port %d is not used: network = %s cannot change the destination port (%s)", r.Port, fwd, portOfService(s))
	}
}

// effective is the forwarding method a real server uses.
func (k *checker) effective(r *model.RealServer) model.Forward {
	if r.Forward != model.ForwardDefault {
		return r.Forward
	}
	if k.c.Global.Network == model.ForwardDefault {
		return model.ForwardNAT
	}
	return k.c.Global.Network
}

// portRanges checks one service's fwmark_ports for overlaps. Sorting keeps
// it linear in practice: a range overlaps an earlier one exactly when it
// starts before the furthest end seen so far.
func (k *checker) portRanges(s site, rs model.PortRanges) {
	idx := make([]int, 0, len(rs))
	for i, r := range rs {
		if r.First == 0 || r.First > r.Last {
			k.errorf(s, "fwmark_ports: invalid range %s", r)
			continue
		}
		idx = append(idx, i)
	}
	sort.SliceStable(idx, func(a, b int) bool { return rs[idx[a]].First < rs[idx[b]].First })
	far := -1
	for _, i := range idx {
		if far >= 0 && rs[i].First <= rs[far].Last {
			later, earlier := i, far
			if later < earlier {
				later, earlier = earlier, later
			}
			k.errorf(s, "fwmark_ports: %s overlaps %s", rs[later], rs[earlier])
		}
		if far < 0 || rs[i].Last > rs[far].Last {
			far = i
		}
	}
}

func overlaps(a, b model.PortRange) bool { return a.First <= b.Last && b.First <= a.Last }
