package web

import (
	"net/netip"
	"strconv"
	"strings"

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
	// set applies a keyword's value through config's keyword tables,
	// so a field reads as the same keyword in lvs.cf does.
	set func(key string, values ...string) ([]config.Finding, error)
}

// keyword sets key from its field, if given, as lvs.cf reads the value;
// a blank field calls clear (an empty input means "none" or "default").
func (p *fieldParser) keyword(key string, clear func()) {
	v, ok := p.has(key)
	switch {
	case !ok:
	case v == "":
		clear()
	default:
		notes, err := p.set(key, v)
		switch {
		case err != nil:
			p.errs.add(key, err.Error())
		case len(notes) > 0:
			// What a file gets away with under a warning, a form is asked
			// to say plainly (an address in inet_aton form, a negative
			// persistence).
			p.errs.add(key, notes[0].Message)
		}
	}
}

func (p *fieldParser) has(key string) (string, bool) {
	v, ok := p.f[key]
	return strings.TrimSpace(v), ok
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
	p := &fieldParser{f: f, errs: errs, set: func(k string, v ...string) ([]config.Finding, error) {
		return config.SetGlobal(g, k, v...)
	}}
	def := model.DefaultGlobal()
	for _, k := range []string{"primary", "primary_private", "network", "nat_nmask", "tcp_timeout", "tcpfin_timeout",
		"udp_timeout", "backup_active", "backup", "backup_private", "keepalive", "deadtime", "heartbeat_port",
		"monitor_links", "syncdaemon", "syncd_iface", "syncd_id", "vrrp_vrid", "vrrp_priority", "vrrp_preempt",
		"vrrp_interface", "vrrp_unicast_peers", "vrrp_advert_ms", "state_sync_port"} {
		p.keyword(k, func() { resetGlobal(g, &def, k) })
	}
	// nat_router is one keyword of two values, two fields on the page.
	if addr, dev, ok := p.pair("nat_router", "nat_router_device", g.NATRouter, g.NATRouterDev); ok {
		if addr == "" {
			g.NATRouter, g.NATRouterDev = netip.Addr{}, dev
		} else if _, err := config.SetGlobal(g, "nat_router", addr, dev); err != nil {
			errs.add("nat_router", err.Error())
		}
	}
	return errs
}

// pair reads the two fields of a keyword of an address and a device,
// either of which may be left out to keep what runs; ok is false when
// neither was given.
func (p *fieldParser) pair(addrKey, devKey string, addr netip.Addr, dev string) (string, string, bool) {
	a, hasAddr := p.has(addrKey)
	d, hasDev := p.has(devKey)
	if !hasAddr && addr.IsValid() {
		a = addr.String()
	}
	if !hasDev {
		d = dev
	}
	return a, d, hasAddr || hasDev
}

// resetGlobal gives a global keyword cleared on a form its default.
func resetGlobal(g, def *model.Global, key string) {
	switch key {
	case "primary":
		g.Primary = def.Primary
	case "primary_private":
		g.PrimaryPrivate = def.PrimaryPrivate
	case "network":
		g.Network = def.Network
	case "nat_nmask":
		g.NATPrefixLen = def.NATPrefixLen
	case "tcp_timeout":
		g.TCPTimeout = def.TCPTimeout
	case "tcpfin_timeout":
		g.TCPFinTimeout = def.TCPFinTimeout
	case "udp_timeout":
		g.UDPTimeout = def.UDPTimeout
	case "backup_active":
		g.BackupActive = def.BackupActive
	case "backup":
		g.Backup = def.Backup
	case "backup_private":
		g.BackupPrivate = def.BackupPrivate
	case "keepalive":
		g.Keepalive = def.Keepalive
	case "deadtime":
		g.Deadtime = def.Deadtime
	case "heartbeat_port":
		g.HeartbeatPort = def.HeartbeatPort
	case "monitor_links":
		g.MonitorLinks = def.MonitorLinks
	case "syncdaemon":
		g.SyncDaemon = def.SyncDaemon
	case "syncd_iface":
		g.SyncdIface = def.SyncdIface
	case "syncd_id":
		g.SyncdID = def.SyncdID
	case "vrrp_vrid":
		g.VRRPVRID = def.VRRPVRID
	case "vrrp_priority":
		g.VRRPPriority = def.VRRPPriority
	case "vrrp_preempt":
		g.VRRPPreempt = def.VRRPPreempt
	case "vrrp_interface":
		g.VRRPInterface = def.VRRPInterface
	case "vrrp_unicast_peers":
		g.VRRPUnicastPeers = nil
	case "vrrp_advert_ms":
		g.VRRPAdvert = def.VRRPAdvert
	case "state_sync_port":
		g.StateSyncPort = def.StateSyncPort
	}
}

// EditService applies VIRTUAL SERVER and MONITORING SCRIPTS fields to s.
func EditService(s *model.Service, f Fields) FieldErrors {
	errs := FieldErrors{}
	knownKeys(f, append(append([]string{}, ServiceKeys...), config.CheckKeywords()...), errs)
	p := &fieldParser{f: f, errs: errs, set: func(k string, v ...string) ([]config.Finding, error) {
		return config.SetService(s, k, v...)
	}}
	if v, ok := p.has("name"); ok {
		if v == "" {
			errs.add("name", "a virtual server needs a name")
		}
		s.Name = v
	}
	// address is one keyword of two values, two fields on the page.
	if vip, dev, ok := p.pair("address", "device", s.VIP, s.Device); ok {
		// A stand-in device, so that a bad address is named first.
		probe := dev
		if probe == "" {
			probe = "eth0"
		}
		switch notes, err := config.SetService(s, "address", vip, probe); {
		case vip == "":
			errs.add("address", "a virtual server needs an address")
		case err != nil:
			errs.add("address", err.Error())
		case len(notes) > 0:
			errs.add("address", notes[0].Message)
		case dev == "":
			errs.add("address", "a virtual server needs the device its address goes on (e.g. eth0)")
		}
	}
	def := model.DefaultService(s.Name)
	clear := map[string]func(){
		"active":          func() { s.Active = false },
		"vip_nmask":       func() { s.VIPPrefixLen = 0 },
		"port":            func() { s.Port = def.Port },
		"protocol":        func() { s.Proto = def.Proto },
		"fwmark":          func() { s.FWMark = 0 },
		"fwmark_ports":    func() { s.MarkPorts = nil },
		"scheduler":       func() { s.Scheduler = def.Scheduler },
		"scheduler_flags": func() { s.SchedFlags = 0 },
		"persistent":      func() { s.Persistence.Timeout = 0 },
		"pmask":           func() { s.Persistence.PrefixLen = 0 },
		"one_packet":      func() { s.OnePacket = false },
		"sorry_server":    func() { s.Sorry = netip.AddrPort{} },
		"timeout":         func() { s.Check.Interval = def.Check.Interval },
		"reentry":         func() { s.Check.Reentry = def.Check.Reentry },
		"quiesce_server":  func() { s.Check.Quiesce = false },
		"load_monitor":    func() { s.Check.LoadMonitor = "" },
		"send":            func() { s.Check.Send = "" },
		"expect":          func() { s.Check.Expect = "" },
		"use_regex":       func() { s.Check.UseRegex = false },
		"send_program":    func() { s.Check.SendProgram = "" },
	}
	if v, _ := p.has("load_monitor"); v == "none" {
		// The form's "none" is no load_monitor line.
		delete(clear, "load_monitor")
		s.Check.LoadMonitor = ""
	}
	for _, k := range ServiceKeys {
		if c, ok := clear[k]; ok {
			p.keyword(k, c)
		}
	}
	for _, k := range config.CheckKeywords() {
		p.keyword(k, func() { delete(s.Check.Extra, k) })
	}
	return errs
}

// EditServer applies REAL SERVER fields to r of service s.
func EditServer(s *model.Service, r *model.RealServer, f Fields) FieldErrors {
	errs := FieldErrors{}
	knownKeys(f, ServerKeys, errs)
	p := &fieldParser{f: f, errs: errs, set: func(k string, v ...string) ([]config.Finding, error) {
		return config.SetServer(s, r, k, v...)
	}}
	if v, ok := p.has("name"); ok {
		if v == "" {
			errs.add("name", "a real server needs a name")
		}
		r.Name = v
	}
	clear := map[string]func(){
		"address": func() { errs.add("address", "a real server needs an address") },
		// Blank is the virtual port, as in Piranha's form.
		"port":       func() { r.Port = s.DefaultServerPort() },
		"weight":     func() { r.Weight = model.DefaultWeight },
		"active":     func() { r.Active = false },
		"uthreshold": func() { r.UpperThreshold = 0 },
		"lthreshold": func() { r.LowerThreshold = 0 },
		"network":    func() { r.Forward = model.ForwardDefault },
	}
	for _, k := range ServerKeys {
		c, ok := clear[k]
		if v, _ := p.has(k); k == "network" && v == "default" {
			// The form's "router default": no network line of its own.
			c()
			continue
		}
		if ok {
			p.keyword(k, c)
		}
	}
	return errs
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
