// Package model holds the value types that describe an LVS router: virtual
// services (keyed by protocol, VIP and port, or by firewall mark), their real
// servers, scheduler and persistence settings, and the router-wide settings of
// lvs.cf.
//
// Every other package of govs depends on this one and on nothing sideways:
// the lvs.cf parser produces a Config, the virtual server table and every data
// plane consume it. The types here are plain values; keys are comparable so
// they can be used as map keys, and every address is a netip value.
package model

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Proto is an IP protocol number as IPVS uses it.
type Proto uint8

// The protocols a virtual service can carry. ProtoIP is what IPVS records in
// the key of a firewall-mark service and its persistence templates, since one
// mark can bundle TCP and UDP alike.
const (
	ProtoIP  Proto = 0
	ProtoTCP Proto = 6
	ProtoUDP Proto = 17
)

// String returns the ipvsadm spelling: TCP, UDP, or IP for marks.
func (p Proto) String() string {
	switch p {
	case ProtoTCP:
		return "TCP"
	case ProtoUDP:
		return "UDP"
	case ProtoIP:
		return "IP"
	}
	return "proto(" + strconv.Itoa(int(p)) + ")"
}

// ParseProto reads "tcp" or "udp" in any case.
func ParseProto(s string) (Proto, error) {
	switch strings.ToLower(s) {
	case "tcp":
		return ProtoTCP, nil
	case "udp":
		return ProtoUDP, nil
	}
	return 0, fmt.Errorf("unknown protocol %q (want tcp or udp)", s)
}

// Family is an address family: 4 or 6.
type Family uint8

// Address families.
const (
	IPv4 Family = 4
	IPv6 Family = 6
)

// FamilyOf returns the family of a, treating IPv4-mapped IPv6 as IPv4.
func FamilyOf(a netip.Addr) Family {
	if a.Unmap().Is4() {
		return IPv4
	}
	return IPv6
}

// ServiceKey identifies a virtual service the way IPVS does: either
// (protocol, VIP, port), or (family, firewall mark) when FWMark is non-zero,
// in which case Proto, Addr and Port are zero. It is comparable.
type ServiceKey struct {
	Proto  Proto
	Addr   netip.Addr
	Port   uint16
	FWMark uint32
	Family Family // only set for mark services; Addr carries it otherwise
}

// TCPKey returns the key of a TCP service.
func TCPKey(ap netip.AddrPort) ServiceKey {
	return ServiceKey{Proto: ProtoTCP, Addr: ap.Addr().Unmap(), Port: ap.Port()}
}

// UDPKey returns the key of a UDP service.
func UDPKey(ap netip.AddrPort) ServiceKey {
	return ServiceKey{Proto: ProtoUDP, Addr: ap.Addr().Unmap(), Port: ap.Port()}
}

// MarkKey returns the key of a firewall-mark service.
func MarkKey(f Family, mark uint32) ServiceKey {
	return ServiceKey{FWMark: mark, Family: f}
}

// IsMark reports whether the key names a firewall-mark service.
func (k ServiceKey) IsMark() bool { return k.FWMark != 0 }

// AddrFamily returns the service's address family.
func (k ServiceKey) AddrFamily() Family {
	if k.IsMark() {
		if k.Family == 0 {
			return IPv4
		}
		return k.Family
	}
	return FamilyOf(k.Addr)
}

// String renders the key as ipvsadm lists it: "TCP  192.0.2.1:80",
// "UDP  [2001:db8::1]:53" or "FWM  80" (with " IPv6" for an IPv6 mark).
func (k ServiceKey) String() string {
	if k.IsMark() {
		s := "FWM  " + strconv.FormatUint(uint64(k.FWMark), 10)
		if k.AddrFamily() == IPv6 {
			s += " IPv6"
		}
		return s
	}
	return k.Proto.String() + "  " + netip.AddrPortFrom(k.Addr, k.Port).String()
}

// ParseServiceKey reads a key written tcp:VIP:PORT, udp:VIP:PORT (IPv6 as
// tcp:[2001:db8::1]:80) or fwm:MARK, with fwm:MARK:6 for an IPv6 mark.
func ParseServiceKey(s string) (ServiceKey, error) {
	kind, rest, ok := strings.Cut(s, ":")
	if !ok {
		return ServiceKey{}, fmt.Errorf("service key %q: want tcp:VIP:PORT, udp:VIP:PORT or fwm:MARK", s)
	}
	switch strings.ToLower(kind) {
	case "tcp", "udp":
		ap, err := netip.ParseAddrPort(rest)
		if err != nil {
			return ServiceKey{}, fmt.Errorf("service key %q: %v", s, err)
		}
		if strings.EqualFold(kind, "tcp") {
			return TCPKey(ap), nil
		}
		return UDPKey(ap), nil
	case "fwm":
		num, fam, _ := strings.Cut(rest, ":")
		m, err := strconv.ParseUint(num, 0, 32)
		if err != nil || m == 0 {
			return ServiceKey{}, fmt.Errorf("service key %q: bad mark %q", s, num)
		}
		f := IPv4
		switch fam {
		case "", "4":
		case "6":
			f = IPv6
		default:
			return ServiceKey{}, fmt.Errorf("service key %q: family %q is not 4 or 6", s, fam)
		}
		return MarkKey(f, uint32(m)), nil
	}
	return ServiceKey{}, fmt.Errorf("service key %q: want tcp:, udp: or fwm:", s)
}

// PortRange is an inclusive range of ports; a single port has First == Last.
type PortRange struct {
	First, Last uint16
}

// Contains reports whether p lies in the range.
func (r PortRange) Contains(p uint16) bool { return p >= r.First && p <= r.Last }

// Len is the number of ports in the range.
func (r PortRange) Len() int { return int(r.Last) - int(r.First) + 1 }

// String renders "80" or "10000-20000".
func (r PortRange) String() string {
	if r.First == r.Last {
		return strconv.Itoa(int(r.First))
	}
	return strconv.Itoa(int(r.First)) + "-" + strconv.Itoa(int(r.Last))
}

// PortRanges is a list of port ranges, as written in fwmark_ports.
type PortRanges []PortRange

// Contains reports whether any range holds p.
func (rs PortRanges) Contains(p uint16) bool {
	for _, r := range rs {
		if r.Contains(p) {
			return true
		}
	}
	return false
}

// String renders the list as lvs.cf writes it: "80,443,10000-20000".
func (rs PortRanges) String() string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = r.String()
	}
	return strings.Join(parts, ",")
}

// Forward is a real server's forwarding method.
type Forward uint8

// Forwarding methods. The zero value means "not set here": a real server
// then uses the router-wide `network` setting.
const (
	ForwardDefault Forward = iota
	ForwardNAT             // masquerading: ipvsadm -m, lvs.cf "nat"
	ForwardDR              // direct routing: ipvsadm -g, lvs.cf "direct"
	ForwardTUN             // IP tunnelling: ipvsadm -i, lvs.cf "tunnel"
)

// String returns the lvs.cf spelling.
func (f Forward) String() string {
	switch f {
	case ForwardNAT:
		return "nat"
	case ForwardDR:
		return "direct"
	case ForwardTUN:
		return "tunnel"
	}
	return ""
}

// IPVSName returns the name ipvsadm -L prints in its Forward column.
func (f Forward) IPVSName() string {
	switch f {
	case ForwardNAT:
		return "Masq"
	case ForwardDR:
		return "Route"
	case ForwardTUN:
		return "Tunnel"
	}
	return "Masq"
}

// ParseForward reads nat, direct or tunnel.
func ParseForward(s string) (Forward, error) {
	switch strings.ToLower(s) {
	case "nat":
		return ForwardNAT, nil
	case "direct":
		return ForwardDR, nil
	case "tunnel":
		return ForwardTUN, nil
	}
	return 0, fmt.Errorf("unknown network type %q (want nat, direct or tunnel)", s)
}

// TunnelType is the encapsulation of a tunnel-mode real server.
type TunnelType uint8

// Tunnel types the kernel offers.
const (
	TunnelIPIP TunnelType = iota
	TunnelGUE
	TunnelGRE
)

// String returns the lvs.cf spelling.
func (t TunnelType) String() string {
	switch t {
	case TunnelGUE:
		return "gue"
	case TunnelGRE:
		return "gre"
	}
	return "ipip"
}

// ParseTunnelType reads ipip, gue or gre.
func ParseTunnelType(s string) (TunnelType, error) {
	switch strings.ToLower(s) {
	case "ipip":
		return TunnelIPIP, nil
	case "gue":
		return TunnelGUE, nil
	case "gre":
		return TunnelGRE, nil
	}
	return 0, fmt.Errorf("unknown tunnel type %q (want ipip, gue or gre)", s)
}

// Scheduler names an IPVS scheduling algorithm, spelled as ipvsadm -s takes it.
type Scheduler string

// Every scheduler the Linux kernel ships.
const (
	SchedRR    Scheduler = "rr"
	SchedWRR   Scheduler = "wrr"
	SchedLC    Scheduler = "lc"
	SchedWLC   Scheduler = "wlc"
	SchedSED   Scheduler = "sed"
	SchedNQ    Scheduler = "nq"
	SchedLBLC  Scheduler = "lblc"
	SchedLBLCR Scheduler = "lblcr"
	SchedDH    Scheduler = "dh"
	SchedSH    Scheduler = "sh"
	SchedMH    Scheduler = "mh"
	SchedFO    Scheduler = "fo"
	SchedOVF   Scheduler = "ovf"
	SchedTWOS  Scheduler = "twos"
)

// Schedulers lists every known scheduler in a stable order.
var Schedulers = []Scheduler{SchedRR, SchedWRR, SchedLC, SchedWLC, SchedSED, SchedNQ,
	SchedLBLC, SchedLBLCR, SchedDH, SchedSH, SchedMH, SchedFO, SchedOVF, SchedTWOS}

// Valid reports whether s names a known scheduler.
func (s Scheduler) Valid() bool {
	for _, k := range Schedulers {
		if s == k {
			return true
		}
	}
	return false
}

// SchedFlags are the scheduler flags of ipvsadm -b. IPVS carries them as
// three generic bits whose meaning depends on the scheduler: sh-fallback and
// mh-fallback are bit 1, sh-port and mh-port bit 2.
type SchedFlags uint8

// Scheduler flags.
const (
	FlagFallback SchedFlags = 1 << iota // sh-fallback, mh-fallback (IP_VS_SVC_F_SCHED1)
	FlagPort                            // sh-port, mh-port (IP_VS_SVC_F_SCHED2)
	FlagSched3                          // flag-3 (IP_VS_SVC_F_SCHED3), unused by kernel schedulers
)

// Has reports whether all bits of f2 are set.
func (f SchedFlags) Has(f2 SchedFlags) bool { return f&f2 == f2 }

// Format renders the flags for scheduler s the way ipvsadm -b takes them,
// e.g. "sh-fallback,sh-port".
func (f SchedFlags) Format(s Scheduler) string {
	var out []string
	prefix := "flag-"
	if s == SchedSH || s == SchedMH {
		prefix = string(s) + "-"
	}
	if f.Has(FlagFallback) {
		if prefix == "flag-" {
			out = append(out, "flag-1")
		} else {
			out = append(out, prefix+"fallback")
		}
	}
	if f.Has(FlagPort) {
		if prefix == "flag-" {
			out = append(out, "flag-2")
		} else {
			out = append(out, prefix+"port")
		}
	}
	if f.Has(FlagSched3) {
		out = append(out, "flag-3")
	}
	return strings.Join(out, ",")
}

// ParseSchedFlags reads a comma-separated ipvsadm -b list such as
// "sh-fallback,sh-port" (also mh-*, flag-1..3).
func ParseSchedFlags(s string) (SchedFlags, error) {
	var f SchedFlags
	if strings.TrimSpace(s) == "" {
		return 0, nil
	}
	for _, p := range strings.Split(s, ",") {
		switch strings.ToLower(strings.TrimSpace(p)) {
		case "sh-fallback", "mh-fallback", "flag-1":
			f |= FlagFallback
		case "sh-port", "mh-port", "flag-2":
			f |= FlagPort
		case "flag-3":
			f |= FlagSched3
		default:
			return 0, fmt.Errorf("unknown scheduler flag %q", p)
		}
	}
	return f, nil
}

// Persistence is a service's client affinity: connections from one client
// network go to one real server while a template for it lives.
type Persistence struct {
	// Timeout is how long a template outlives the last connection it
	// controls. Zero disables persistence.
	Timeout time.Duration
	// PrefixLen is the client-address granularity as a prefix length
	// (lvs.cf pmask 255.255.255.0 is 24). Zero means the full address
	// (32 for IPv4, 128 for IPv6), as IPVS defaults.
	PrefixLen int
	// ExpireQuiescent drops a template whose real server is quiesced (weight
	// 0) instead of honouring it: the kernel's expire_quiescent_template.
	ExpireQuiescent bool
}

// Enabled reports whether persistence is on.
func (p Persistence) Enabled() bool { return p.Timeout > 0 }

// Bits returns the effective prefix length for family f.
func (p Persistence) Bits(f Family) int {
	if p.PrefixLen > 0 {
		return p.PrefixLen
	}
	if f == IPv6 {
		return 128
	}
	return 32
}

// RealServer is one real server of a virtual service, as configured.
type RealServer struct {
	// Name is the lvs.cf server block name.
	Name string
	// Addr is the real server's address.
	Addr netip.Addr
	// Port is the real server's port. Zero keeps the client's destination
	// port, as IPVS does for persistent firewall-mark services.
	Port uint16
	// Weight is the configured IPVS weight, 0..65535. Zero means quiescent.
	Weight int
	// UpperThreshold and LowerThreshold bound the real server's connections
	// (ipvsadm -x and -y); zero means unset.
	UpperThreshold, LowerThreshold uint32
	// Forward is the forwarding method; ForwardDefault uses the router's.
	Forward Forward
	// Tunnel is the encapsulation for ForwardTUN.
	Tunnel TunnelType
	// Active is lvs.cf's `active`: an inactive real server is never added.
	Active bool
	// ProxyProtocol is 0 (off), 1 or 2: the PROXY protocol version the
	// userspace plane sends to this real server before the client's bytes.
	ProxyProtocol int
}

// Key returns the real server's address and port.
func (r RealServer) Key() DestKey { return DestKey{Addr: r.Addr.Unmap(), Port: r.Port} }

// DestKey identifies a real server inside a service: address and port.
type DestKey struct {
	Addr netip.Addr
	Port uint16
}

// String renders "198.51.100.2:80" or "[2001:db8::2]:80".
func (k DestKey) String() string { return netip.AddrPortFrom(k.Addr, k.Port).String() }

// Service is one virtual service, as configured.
type Service struct {
	// Name is the lvs.cf virtual block name.
	Name string
	// Active is lvs.cf's `active`: an inactive service is not installed.
	Active bool
	// Proto is the protocol of the service (for a mark service, of its
	// bundled ports).
	Proto Proto
	// VIP is the floating address. A mark service records it too: it is
	// where the bundled ports are marked and where the VIP is brought up.
	VIP netip.Addr
	// Device is the interface (alias) the VIP is brought up on.
	Device string
	// VIPPrefixLen is the VIP's prefix length from vip_nmask; 0 if unset.
	VIPPrefixLen int
	// Port is the virtual port (for a mark service, Piranha's default check
	// and real-server port).
	Port uint16
	// FWMark, when non-zero, makes this a firewall-mark service.
	FWMark uint32
	// MarkPorts are the ports of VIP whose traffic carries FWMark
	// (lvs.cf fwmark_ports).
	MarkPorts PortRanges
	// Scheduler and SchedFlags choose the scheduling algorithm.
	Scheduler  Scheduler
	SchedFlags SchedFlags
	// Persistence is the client affinity.
	Persistence Persistence
	// OnePacket schedules every UDP datagram on its own (ipvsadm -o).
	OnePacket bool
	// MaxConns bounds the connections and UDP flows the service holds at
	// once (0: no bound of its own); a new one beyond it is refused and
	// counted. The proxy plane's; IPVS has no per-service bound (its real
	// servers' uthreshold is the kernel's way).
	MaxConns int
	// Sorry is the sorry server, used while every real server is down;
	// invalid when unset.
	Sorry netip.AddrPort
	// RealServers are the service's real servers, in configuration order
	// (the order IPVS schedulers scan them).
	RealServers []RealServer
	// Check is how real servers are monitored.
	Check Check
	// FTP makes the service FTP-aware.
	FTP bool
}

// Key returns the service's table key.
func (s *Service) Key() ServiceKey {
	if s.FWMark != 0 {
		return MarkKey(FamilyOf(s.VIP), s.FWMark)
	}
	return ServiceKey{Proto: s.Proto, Addr: s.VIP.Unmap(), Port: s.Port}
}

// ListenPorts returns the ports the service receives traffic on: the
// bundled ports of a mark service, or its single port.
func (s *Service) ListenPorts() PortRanges {
	if s.FWMark != 0 && len(s.MarkPorts) > 0 {
		return s.MarkPorts
	}
	return PortRanges{{First: s.Port, Last: s.Port}}
}

// Check is the monitoring of a service's real servers (nanny's options and
// govs's additions). The health package interprets it.
type Check struct {
	// Interval is lvs.cf `timeout`: the check period and per-check timeout.
	Interval time.Duration
	// Reentry is lvs.cf `reentry`: how long a failed server must pass
	// checks before it returns.
	Reentry time.Duration
	// Quiesce is lvs.cf `quiesce_server`: weight 0 on failure instead of
	// removal.
	Quiesce bool
	// Send, Expect, UseRegex and SendProgram are nanny's probe settings,
	// without their lvs.cf quotes.
	Send, Expect string
	UseRegex     bool
	SendProgram  string
	// LoadMonitor is lvs.cf `load_monitor` (none, uptime, rup, ruptime).
	LoadMonitor string
	// Extra holds check keywords govs adds (check type, path, ...), kept by
	// name so the health package can own their meaning.
	Extra map[string]string
}

// Global is the router-wide part of lvs.cf.
type Global struct {
	SerialNo       int
	Primary        netip.Addr
	PrimaryPrivate netip.Addr
	PrimaryShared  string
	Service        string // "lvs" or "fos"
	BackupActive   bool
	Backup         netip.Addr
	BackupPrivate  netip.Addr
	BackupShared   string
	Heartbeat      bool
	HeartbeatPort  uint16
	Keepalive      time.Duration
	Deadtime       time.Duration
	Network        Forward
	NATRouter      netip.Addr
	NATRouterDev   string
	NATPrefixLen   int
	MonitorLinks   bool
	SyncDaemon     bool
	SyncdIface     string
	SyncdID        int
	// TCPTimeout, TCPFinTimeout and UDPTimeout are the idle timeouts of
	// established TCP, closing TCP and UDP connections; zero keeps the
	// default (the kernel's 900 s, 120 s and 300 s).
	TCPTimeout, TCPFinTimeout, UDPTimeout time.Duration
	ActiveCmd, InactiveCmd                string
	HardShutdown                          bool
	RSHCommand                            string
	IPVSAdm                               string
	DebugLevel                            string
	ReservationConflictAction             string
	// Dataplane selects the data plane: "auto" (default), "proxy", "ipvs".
	Dataplane string
	// HTTPListen is where govs run serves its web tool, REST API and
	// metrics (host:port); off when empty.
	HTTPListen string
	// HTTPTLSCert and HTTPTLSKey are the PEM files of the web tool's TLS
	// certificate; plain HTTP when empty.
	HTTPTLSCert, HTTPTLSKey string
	// HTTPUsers is the file of web-tool users, password hashes and API
	// tokens that govs passwd writes.
	HTTPUsers string
	// MetricsAuth makes the web tool's /metrics ask for a bearer token
	// (any user's, read-only is enough) or a session, as the API does.
	// Off, /metrics is open to whoever reaches http_listen, as Prometheus
	// exporters usually are.
	MetricsAuth bool
	// MaxConns bounds the connections and UDP flows the proxy plane holds
	// at once, across services (0: what the descriptor limit allows, see
	// the proxy plane's socket budget).
	MaxConns int
	// VRRPVRID is the VRRP virtual router id (1-255); zero means the
	// default, 51, so that two routers configured alike find each other.
	VRRPVRID int
	// VRRPPriority is this router's VRRP priority (1-255); zero means the
	// default: 150 on the node owning primary, 100 on the backup.
	VRRPPriority int
	// ExpireQuiescentTemplate is the kernel's expire_quiescent_template
	// sysctl for every service: a persistence template whose real server
	// is at weight 0 (quiesced by a check, or drained) is dropped instead
	// of honoured, so its clients move at once. Off, the kernel's default:
	// they stay until the template expires.
	ExpireQuiescentTemplate bool
	// ExpireNodestConn is the kernel's expire_nodest_conn sysctl: a
	// connection whose real server left its service (down, disabled, or
	// removed from the file) is expired and its client reset. Off, the
	// kernel's default: its client's packets are dropped until the server
	// comes back or the connection times out, and a server removed from
	// the file lingers at weight 0 until its connections end.
	ExpireNodestConn bool
	// VRRPPreempt lets a higher-priority router take the active role back
	// from a running lower-priority one. Off by default, as pulse never
	// failed back on its own.
	VRRPPreempt bool
	// VRRPInterface is the interface adverts are sent and received on;
	// empty means the one that holds primary or backup.
	VRRPInterface string
	// VRRPUnicastPeers, when set, replaces multicast adverts with unicast
	// ones to these addresses, and adverts from anyone else are ignored.
	VRRPUnicastPeers []netip.Addr
	// VRRPAdvert is the advertisement interval when finer than keepalive's
	// whole seconds allow (lvs.cf vrrp_advert_ms); zero uses keepalive.
	VRRPAdvert time.Duration
	// StateSyncPort is the UDP port of govs's own state sync between the
	// proxy planes of the two routers; zero means the default, 8849.
	StateSyncPort uint16
}

// Default timeouts, those of the Linux kernel.
const (
	DefaultTCPTimeout    = 900 * time.Second
	DefaultTCPFinTimeout = 120 * time.Second
	DefaultUDPTimeout    = 300 * time.Second
)

// Timeouts returns the effective idle timeouts.
func (g *Global) Timeouts() (tcp, tcpfin, udp time.Duration) {
	tcp, tcpfin, udp = g.TCPTimeout, g.TCPFinTimeout, g.UDPTimeout
	if tcp <= 0 {
		tcp = DefaultTCPTimeout
	}
	if tcpfin <= 0 {
		tcpfin = DefaultTCPFinTimeout
	}
	if udp <= 0 {
		udp = DefaultUDPTimeout
	}
	return
}

// Config is a whole router configuration.
type Config struct {
	Global   Global
	Services []Service
}

// Service returns the service with key k, or nil.
func (c *Config) Service(k ServiceKey) *Service {
	for i := range c.Services {
		if c.Services[i].Key() == k {
			return &c.Services[i]
		}
	}
	return nil
}
