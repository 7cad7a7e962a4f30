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
	"maps"
	"net/netip"
	"slices"
	"time"
)

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

// Clone deep-copies c, so that an edit of the copy never shows through to
// the configuration the table and the health monitors are using.
func (c *Config) Clone() *Config {
	out := &Config{Global: c.Global, Services: slices.Clone(c.Services)}
	out.Global.VRRPUnicastPeers = slices.Clone(c.Global.VRRPUnicastPeers)
	for i := range out.Services {
		s := &out.Services[i]
		s.MarkPorts = slices.Clone(s.MarkPorts)
		s.RealServers = slices.Clone(s.RealServers)
		s.Check.Extra = maps.Clone(s.Check.Extra)
	}
	return out
}
