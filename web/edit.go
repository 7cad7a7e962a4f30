package web

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/govs/govs/config"
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
}

func (p *fieldParser) has(key string) (string, bool) {
	v, ok := p.f[key]
	return strings.TrimSpace(v), ok
}

func (p *fieldParser) str(key string, dst *string) {
	if v, ok := p.f[key]; ok {
		*dst = v
	}
}

func (p *fieldParser) addr(key string, optional bool, dst *netip.Addr) {
	v, ok := p.has(key)
	if !ok {
		return
	}
	if v == "" && optional {
		*dst = netip.Addr{}
		return
	}
	a, err := netip.ParseAddr(v)
	if err != nil || a.Zone() != "" {
		p.errs.add(key, fmt.Sprintf("%q is not an IP address", v))
		return
	}
	*dst = a.Unmap()
}

func (p *fieldParser) num(key string, lo, hi int64, dst *int64) bool {
	v, ok := p.has(key)
	if !ok {
		return false
	}
	if v == "" {
		v = "0"
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < lo || n > hi {
		p.errs.add(key, fmt.Sprintf("%q: want a whole number from %d to %d", v, lo, hi))
		return false
	}
	*dst = n
	return true
}

func (p *fieldParser) intv(key string, lo, hi int64, dst *int) {
	var n int64
	if p.num(key, lo, hi, &n) {
		*dst = int(n)
	}
}

func (p *fieldParser) port(key string, dst *uint16) {
	var n int64
	if p.num(key, 0, 65535, &n) {
		*dst = uint16(n)
	}
}

func (p *fieldParser) secs(key string, dst *time.Duration) {
	var n int64
	if p.num(key, 0, 1<<31-1, &n) {
		*dst = time.Duration(n) * time.Second
	}
}

func (p *fieldParser) boolean(key string, dst *bool) {
	v, ok := p.has(key)
	if !ok {
		return
	}
	switch strings.ToLower(v) {
	case "1", "true", "on", "yes":
		*dst = true
	case "0", "false", "off", "no", "":
		*dst = false
	default:
		p.errs.add(key, fmt.Sprintf("%q: want 0 or 1", v))
	}
}

// mask reads a prefix length or a dotted netmask.
func (p *fieldParser) mask(key string, dst *int) {
	v, ok := p.has(key)
	if !ok {
		return
	}
	if v == "" {
		*dst = 0
		return
	}
	if n, err := strconv.Atoi(strings.TrimPrefix(v, "/")); err == nil && n >= 0 && n <= 128 {
		*dst = n
		return
	}
	a, err := netip.ParseAddr(v)
	if err == nil && a.Is4() {
		b := a.As4()
		bits := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		n := 0
		for bits&0x80000000 != 0 {
			n++
			bits <<= 1
		}
		if bits == 0 {
			*dst = n
			return
		}
	}
	p.errs.add(key, fmt.Sprintf("%q is not a netmask (want 255.255.255.0 or 24)", v))
}

// GlobalKeys are the GLOBAL SETTINGS page's fields.
var GlobalKeys = []string{"primary", "primary_private", "network", "nat_router", "nat_router_device",
	"nat_nmask", "tcp_timeout", "tcpfin_timeout", "udp_timeout"}

// RedundancyKeys are the REDUNDANCY page's fields.
var RedundancyKeys = []string{"backup_active", "backup", "backup_private", "keepalive", "deadtime",
	"heartbeat_port", "monitor_links", "syncdaemon", "syncd_iface", "syncd_id",
	"vrrp_vrid", "vrrp_priority", "vrrp_preempt", "vrrp_interface", "vrrp_unicast_peers", "vrrp_advert_ms", "state_sync_port"}

// VirtualKeys are the VIRTUAL SERVER page's fields.
var VirtualKeys = []string{"name", "active", "address", "device", "vip_nmask", "port", "protocol",
	"fwmark", "fwmark_ports", "scheduler", "scheduler_flags", "persistent", "pmask", "one_packet",
	"sorry_server", "timeout", "reentry", "quiesce_server", "load_monitor"}

// MonitorKeys are the MONITORING SCRIPTS page's nanny fields; the check
// extensions (config.CheckKeywords) follow them on the page.
var MonitorKeys = []string{"send", "expect", "use_regex", "send_program"}

// ServiceKeys are the VIRTUAL SERVER and MONITORING SCRIPTS fields without
// the check extensions.
var ServiceKeys = append(append([]string{}, VirtualKeys...), MonitorKeys...)

// ServerKeys are the REAL SERVER fields.
var ServerKeys = []string{"name", "address", "port", "weight", "active", "uthreshold", "lthreshold", "network"}

func knownKeys(f Fields, keys []string, errs FieldErrors) {
	for k := range f {
		ok := false
		for _, kk := range keys {
			ok = ok || kk == k
		}
		if !ok {
			errs.add(k, "unknown field "+strconv.Quote(k))
		}
	}
}

// EditGlobal applies GLOBAL SETTINGS and REDUNDANCY fields to g.
func EditGlobal(g *model.Global, f Fields) FieldErrors {
	errs := FieldErrors{}
	knownKeys(f, append(append([]string{}, GlobalKeys...), RedundancyKeys...), errs)
	p := &fieldParser{f: f, errs: errs}
	p.addr("primary", true, &g.Primary)
	p.addr("primary_private", true, &g.PrimaryPrivate)
	if v, ok := p.has("network"); ok {
		fw, err := model.ParseForward(v)
		if err != nil {
			errs.add("network", err.Error())
		} else {
			g.Network = fw
		}
	}
	p.addr("nat_router", true, &g.NATRouter)
	p.str("nat_router_device", &g.NATRouterDev)
	p.mask("nat_nmask", &g.NATPrefixLen)
	p.secs("tcp_timeout", &g.TCPTimeout)
	p.secs("tcpfin_timeout", &g.TCPFinTimeout)
	p.secs("udp_timeout", &g.UDPTimeout)
	p.boolean("backup_active", &g.BackupActive)
	p.addr("backup", true, &g.Backup)
	p.addr("backup_private", true, &g.BackupPrivate)
	p.secs("keepalive", &g.Keepalive)
	p.secs("deadtime", &g.Deadtime)
	p.port("heartbeat_port", &g.HeartbeatPort)
	p.boolean("monitor_links", &g.MonitorLinks)
	p.boolean("syncdaemon", &g.SyncDaemon)
	p.str("syncd_iface", &g.SyncdIface)
	p.intv("syncd_id", 0, 255, &g.SyncdID)
	p.intv("vrrp_vrid", 0, 255, &g.VRRPVRID)
	p.intv("vrrp_priority", 0, 255, &g.VRRPPriority)
	p.boolean("vrrp_preempt", &g.VRRPPreempt)
	p.str("vrrp_interface", &g.VRRPInterface)
	if v, ok := p.has("vrrp_unicast_peers"); ok {
		var peers []netip.Addr
		for _, part := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' }) {
			a, err := netip.ParseAddr(part)
			if err != nil {
				errs.add("vrrp_unicast_peers", fmt.Sprintf("%q is not an IP address", part))
				break
			}
			peers = append(peers, a.Unmap())
		}
		g.VRRPUnicastPeers = peers
	}
	var ms int64
	if p.num("vrrp_advert_ms", 0, 1<<31-1, &ms) {
		g.VRRPAdvert = time.Duration(ms) * time.Millisecond
	}
	p.port("state_sync_port", &g.StateSyncPort)
	return errs
}

// EditService applies VIRTUAL SERVER and MONITORING SCRIPTS fields to s.
func EditService(s *model.Service, f Fields) FieldErrors {
	errs := FieldErrors{}
	knownKeys(f, append(append([]string{}, ServiceKeys...), config.CheckKeywords()...), errs)
	p := &fieldParser{f: f, errs: errs}
	if v, ok := p.has("name"); ok {
		if v == "" {
			errs.add("name", "a virtual server needs a name")
		}
		s.Name = v
	}
	p.boolean("active", &s.Active)
	p.addr("address", false, &s.VIP)
	p.str("device", &s.Device)
	p.mask("vip_nmask", &s.VIPPrefixLen)
	p.port("port", &s.Port)
	if v, ok := p.has("protocol"); ok {
		pr, err := model.ParseProto(v)
		if err != nil {
			errs.add("protocol", err.Error())
		} else {
			s.Proto = pr
		}
	}
	var mark int64
	if p.num("fwmark", 0, 1<<32-1, &mark) {
		s.FWMark = uint32(mark)
	}
	if v, ok := p.has("fwmark_ports"); ok {
		rs, err := parsePortRanges(v)
		if err != nil {
			errs.add("fwmark_ports", err.Error())
		} else {
			s.MarkPorts = rs
		}
	}
	if v, ok := p.has("scheduler"); ok {
		if !model.Scheduler(v).Valid() {
			errs.add("scheduler", fmt.Sprintf("unknown scheduler %q", v))
		} else {
			s.Scheduler = model.Scheduler(v)
		}
	}
	if v, ok := p.has("scheduler_flags"); ok {
		fl, err := model.ParseSchedFlags(v)
		if err != nil {
			errs.add("scheduler_flags", err.Error())
		} else {
			s.SchedFlags = fl
		}
	}
	p.secs("persistent", &s.Persistence.Timeout)
	p.mask("pmask", &s.Persistence.PrefixLen)
	p.boolean("one_packet", &s.OnePacket)
	if v, ok := p.has("sorry_server"); ok {
		switch ap, err := netip.ParseAddrPort(v); {
		case v == "":
			s.Sorry = netip.AddrPort{}
		case err == nil:
			s.Sorry = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		default:
			if a, err := netip.ParseAddr(v); err == nil {
				s.Sorry = netip.AddrPortFrom(a.Unmap(), s.Port)
			} else {
				errs.add("sorry_server", fmt.Sprintf("%q: want IP or IP:PORT", v))
			}
		}
	}
	p.secs("timeout", &s.Check.Interval)
	p.secs("reentry", &s.Check.Reentry)
	p.boolean("quiesce_server", &s.Check.Quiesce)
	if v, ok := p.has("load_monitor"); ok {
		if v == "none" {
			v = ""
		}
		s.Check.LoadMonitor = v
	}
	p.str("send", &s.Check.Send)
	p.str("expect", &s.Check.Expect)
	p.boolean("use_regex", &s.Check.UseRegex)
	p.str("send_program", &s.Check.SendProgram)
	for _, k := range config.CheckKeywords() {
		v, ok := p.has(k)
		if !ok {
			continue
		}
		if v == "" {
			delete(s.Check.Extra, k)
			continue
		}
		if s.Check.Extra == nil {
			s.Check.Extra = map[string]string{}
		}
		s.Check.Extra[k] = v
	}
	return errs
}

// EditServer applies REAL SERVER fields to r of service s.
func EditServer(s *model.Service, r *model.RealServer, f Fields) FieldErrors {
	errs := FieldErrors{}
	knownKeys(f, ServerKeys, errs)
	p := &fieldParser{f: f, errs: errs}
	if v, ok := p.has("name"); ok {
		if v == "" {
			errs.add("name", "a real server needs a name")
		}
		r.Name = v
	}
	p.addr("address", false, &r.Addr)
	if v, ok := p.has("port"); ok && v == "" {
		// Blank is the virtual port, as in Piranha's form.
		if s.FWMark == 0 {
			r.Port = s.Port
		} else {
			r.Port = 0
		}
	} else {
		p.port("port", &r.Port)
	}
	p.intv("weight", 0, 65535, &r.Weight)
	p.boolean("active", &r.Active)
	var n int64
	if p.num("uthreshold", 0, 1<<32-1, &n) {
		r.UpperThreshold = uint32(n)
	}
	if p.num("lthreshold", 0, 1<<32-1, &n) {
		r.LowerThreshold = uint32(n)
	}
	if v, ok := p.has("network"); ok {
		if v == "" || v == "default" {
			r.Forward = model.ForwardDefault
		} else if fw, err := model.ParseForward(v); err != nil {
			errs.add("network", err.Error())
		} else {
			r.Forward = fw
		}
	}
	return errs
}

func parsePortRanges(v string) (model.PortRanges, error) {
	if v == "" {
		return nil, nil
	}
	var out model.PortRanges
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		a, b, isRange := strings.Cut(part, "-")
		lo, err1 := strconv.ParseUint(a, 10, 16)
		hi := lo
		var err2 error
		if isRange {
			hi, err2 = strconv.ParseUint(b, 10, 16)
		}
		if err1 != nil || err2 != nil || lo == 0 || hi < lo {
			return nil, fmt.Errorf("%q: want ports and ranges such as 80,443,8000-8100", part)
		}
		out = append(out, model.PortRange{First: uint16(lo), Last: uint16(hi)})
	}
	return out, nil
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
