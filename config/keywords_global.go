package config

import (
	"fmt"
	"math"
	"net/netip"
	"strings"
	"time"

	"github.com/govs/govs/model"
)

// Pages of the web tool that edit keywords.
const (
	PageGlobal     = "global"
	PageRedundancy = "redundancy"
	PageVirtual    = "virtual"
	PageMonitor    = "monitor"
	PageServer     = "server"
)

// privateDerived tells whether Parse would derive both private addresses
// from the public ones (primary_private absent), so neither is written.
func privateDerived(gl *model.Global) bool {
	return gl.Primary.IsValid() && gl.PrimaryPrivate == gl.Primary && gl.BackupPrivate == gl.Backup
}

// privateVar is a private heartbeat address.
// Left out (reset), the primary's makes both private addresses the public
// ones, as Parse derives them; the backup's keeps that derivation, or is
// none.
func privateVar(at func(p *parser) *netip.Addr, primary bool) *kwDef {
	return hostVar(false, at).getter(func(p *parser) ([]string, error) {
		if privateDerived(g(p)) {
			return nil, nil
		}
		return addrText(*at(p))
	}).resetter(func(cur, def *parser) {
		switch gl := g(cur); {
		case primary:
			gl.PrimaryPrivate, gl.BackupPrivate = gl.Primary, gl.Backup
		case privateDerived(gl):
		default:
			*at(cur) = *at(def)
		}
	})
}

var globalKeywords = newTable(
	kwEntry{"serial_no", intVar(math.MinInt32, math.MaxInt32, func(p *parser) *int { return &g(p).SerialNo }).
		about("Revision counter, bumped by configuration tools.")},
	kwEntry{"primary", hostVar(false, func(p *parser) *netip.Addr { return &g(p).Primary }).
		about("Public address of the primary router. 0.0.0.0 is an error.").byDefault("—").
		on(PageGlobal, "Router", "Primary server public IP", "")},
	kwEntry{"primary_private", privateVar(func(p *parser) *netip.Addr { return &g(p).PrimaryPrivate }, true).
		about("Second heartbeat address of the primary. When absent, **both** private addresses are the public ones (a `backup_private` is then ignored, with a warning), as in Piranha.").
		byDefault("= `primary`").
		on(PageGlobal, "Router", "Primary server private IP", "alternate heartbeat channel; blank: the public one")},
	kwEntry{"primary_shared", ignoredWith(strVar(false, func(p *parser) *string { return &g(p).PrimaryShared }), whySCSI).
		about("Shared-SCSI failover: kept and written back.")},
	kwEntry{"service", (&kwDef{n: 1, kind: KindEnum, enum: []string{"lvs", "fos"}, set: func(p *parser, v []token) error {
		switch v[0].text {
		case "lvs":
		case "fos":
			p.warnf(p.line, "ignored: service = fos (%s; govs runs the virtual servers)", whyFOS)
		default:
			return fmt.Errorf("invalid argument %q (want lvs or fos)", v[0].text)
		}
		g(p).Service = v[0].text
		return nil
	}}).getter(func(p *parser) ([]string, error) {
		// Always written, as Piranha's tool did, so that even an
		// all-default configuration is a non-empty file.
		if s := g(p).Service; s != "" {
			return []string{s}, nil
		}
		return []string{"lvs"}, nil
	}).resetter(func(cur, def *parser) { g(cur).Service = g(def).Service }).
		about("`fos` (failover services) is accepted with a warning; govs runs virtual servers.").written()},
	kwEntry{"backup_active", boolVar(func(p *parser) *bool { return &g(p).BackupActive }).
		about("A backup router exists.").on(PageRedundancy, "", "Enable a backup router", "backup_active")},
	kwEntry{"backup", hostVar(true, func(p *parser) *netip.Addr { return &g(p).Backup }).
		about("Public address of the backup router.").on(PageRedundancy, "", "Redundant server public IP", "")},
	kwEntry{"backup_private", privateVar(func(p *parser) *netip.Addr { return &g(p).BackupPrivate }, false).
		about("Second heartbeat address of the backup.").byDefault("= `backup`").
		on(PageRedundancy, "", "Redundant server private IP", "used when the primary has a private IP")},
	kwEntry{"backup_shared", ignoredWith(strVar(false, func(p *parser) *string { return &g(p).BackupShared }), whySCSI).
		about("Shared-SCSI failover: kept and written back.")},
	kwEntry{"heartbeat", ignoredWith(boolVar(func(p *parser) *bool { return &g(p).Heartbeat }),
		"heartbeats are sent whenever backup_active = 1").about("Heartbeats follow `backup_active`.")},
	kwEntry{"heartbeat_port", portVar(func(p *parser) *uint16 { return &g(p).HeartbeatPort }).
		about("UDP port of the heartbeat.").on(PageRedundancy, "", "Heartbeat runs on port", "")},
	kwEntry{"keepalive", secondsVar(1, func(p *parser) *time.Duration { return &g(p).Keepalive }).
		about("Interval between heartbeats.").on(PageRedundancy, "", "Heartbeat Interval (seconds)", "")},
	kwEntry{"deadtime", secondsVar(1, func(p *parser) *time.Duration { return &g(p).Deadtime }).
		about("Silence after which the partner is declared dead. A master that advertises at another interval than this router's `keepalive` scales it alike (deadtime × its interval / `keepalive`).").
		on(PageRedundancy, "", "Assume dead after (seconds)", "")},
	kwEntry{"network", forwardVar(func(p *parser) *model.Forward { return &g(p).Network }).
		getter(func(p *parser) ([]string, error) {
			// NAT is the default whether written or not.
			if f := g(p).Network; f != model.ForwardDefault && f != model.ForwardNAT {
				return []string{f.String()}, nil
			}
			return nil, nil
		}).
		about("Forwarding method of every real server (see `network` in server blocks).").byDefault("`nat`").
		on(PageGlobal, "Network", "Use network type", "").labelled("nat=NAT", "direct=Direct Routing", "tunnel=Tunneling")},
	kwEntry{"nat_router", (&kwDef{n: 2, kind: KindAddress, set: func(p *parser, v []token) error {
		a, err := p.host(v[0].text, false)
		if err != nil {
			return err
		}
		if v[1].text == "" {
			return fmt.Errorf("empty device")
		}
		g(p).NATRouter, g(p).NATRouterDev = a, v[1].text
		return nil
	}}).getter(func(p *parser) ([]string, error) {
		if !g(p).NATRouter.IsValid() {
			return nil, nil
		}
		return []string{g(p).NATRouter.String(), g(p).NATRouterDev}, nil
	}).resetter(func(cur, def *parser) { g(cur).NATRouter, g(cur).NATRouterDev = g(def).NATRouter, g(def).NATRouterDev }).
		about("Floating gateway address for NAT real servers and the interface it is brought up on.").
		on(PageGlobal, "Network", "NAT Router IP", "private floating IP, the real servers' gateway").
		andInput("nat_router_device", "NAT Router device", "e.g. eth1:1, the same name on both routers")},
	kwEntry{"nat_nmask", maskVar(func(p *parser) *int { return &g(p).NATPrefixLen }, func(p *parser) netip.Addr { return g(p).NATRouter }).
		about("Netmask of `nat_router`.").on(PageGlobal, "Network", "NAT Router netmask", "e.g. 255.255.255.0 or 24")},
	kwEntry{"reservation_conflict_action", ignoredWith(enumKW([]string{"nothing", "preempt"}, false,
		func(s string) (string, error) { return s, nil },
		func(p *parser) *string { return &g(p).ReservationConflictAction },
		func(s string) []string { r, _ := textOrUnset(s); return r }), whySCSI).
		about("Shared-SCSI failover: kept and written back.")},
	kwEntry{"debug_level", ignoredWith(strVar(false, func(p *parser) *string { return &g(p).DebugLevel }),
		"Piranha did not use it either").about("Kept and written back.")},
	// Piranha read monitor_links as an integer and tested it for non-zero.
	kwEntry{"monitor_links", field(intKW(math.MinInt32, math.MaxInt32, func(p *parser, n int64) { g(p).MonitorLinks = n != 0 }),
		func(p *parser) *bool { return &g(p).MonitorLinks }, func(b bool) ([]string, error) { return []string{boolText(b)}, nil }).
		about("Non-zero: give up the active role when a link goes down.").
		on(PageRedundancy, "", "Monitor NIC links for failures", "").asCheckbox()},
	kwEntry{"syncdaemon", boolVar(func(p *parser) *bool { return &g(p).SyncDaemon }).
		about("Run the IPVS connection-synchronisation daemon.").on(PageRedundancy, "", "Use sync daemon", "")},
	kwEntry{"expire_quiescent_template", boolVar(func(p *parser) *bool { return &g(p).ExpireQuiescentTemplate }).ofGovs().
		about("The kernel's `expire_quiescent_template` for every service, on both data planes (the kernel plane writes `/proc/sys/net/ipv4/vs/expire_quiescent_template`): a persistent client whose real server is at weight 0 (quiesced by a check, drained by `govs realserver drain`, or weight 0 in the file) is scheduled afresh instead of staying. Off, the kernel's default: such clients stay until their template expires. `expire_quiescent` does the same for one service (on the kernel plane, where the setting is global, any such service sets it for all).")},
	kwEntry{"expire_nodest_conn", boolVar(func(p *parser) *bool { return &g(p).ExpireNodestConn }).ofGovs().
		about("The kernel's `expire_nodest_conn`, on both data planes (the kernel plane writes `/proc/sys/net/ipv4/vs/expire_nodest_conn`). It decides what happens to an open connection whose real server leaves its service: marked down or disabled, or removed from the file. Off, the kernel's default: the client's packets are dropped (the connection stalls, the server's replies still pass) until the server comes back, which resumes it, or the connection times out; a server removed from the file is kept at weight 0 until its last connection ends, so those connections go on. On: such connections are expired at once and the client gets a reset; a UDP flow's next datagram is scheduled afresh.")},
	kwEntry{"syncd_iface", strVar(true, func(p *parser) *string { return &g(p).SyncdIface }).
		about("The sync daemon's multicast interface.").on(PageRedundancy, "", "Sync daemon interface", "")},
	// pulse masked the id to the byte IPVS carries; a larger value worked
	// there, so it is accepted with its effective value.
	kwEntry{"syncd_id", field(intKW(math.MinInt32, math.MaxInt32, func(p *parser, n int64) {
		if n < 0 || n > 255 {
			p.warnf(p.line, "syncd_id %d is used as %d (it is masked to 0-255)", n, n&255)
		}
		g(p).SyncdID = int(n & 255)
	}), func(p *parser) *int { return &g(p).SyncdID }, func(n int) ([]string, error) { return []string{fmt.Sprint(n)}, nil }).
		about("The sync daemon's id. Piranha masked it to 0–255; govs does too, with a warning.").
		on(PageRedundancy, "", "Sync daemon ID", "0-255")},
	kwEntry{"tcp_timeout", secondsVar(0, func(p *parser) *time.Duration { return &g(p).TCPTimeout }).
		about("Idle timeout of established TCP connections; 0 keeps the kernel's 900 s.").
		on(PageGlobal, "Timeouts", "TCP Timeout (seconds)", "0: the default, 900")},
	kwEntry{"tcpfin_timeout", secondsVar(0, func(p *parser) *time.Duration { return &g(p).TCPFinTimeout }).
		about("Idle timeout of closing TCP connections; 0 keeps the kernel's 120 s.").
		on(PageGlobal, "Timeouts", "TCP Fin Timeout (seconds)", "0: the default, 120")},
	kwEntry{"udp_timeout", secondsVar(0, func(p *parser) *time.Duration { return &g(p).UDPTimeout }).
		about("Idle timeout of UDP flows; 0 keeps the kernel's 300 s.").
		on(PageGlobal, "Timeouts", "UDP Timeout (seconds)", "0: the default, 300")},
	kwEntry{"active_cmd", strVar(false, func(p *parser) *string { return &g(p).ActiveCmd }).
		about("Command run when this router becomes active.")},
	kwEntry{"inactive_cmd", strVar(false, func(p *parser) *string { return &g(p).InactiveCmd }).
		about("Command run when this router becomes inactive.")},
	kwEntry{"hard_shutdown", ignoredWith(boolVar(func(p *parser) *bool { return &g(p).HardShutdown }), whyNoNanny).
		about("Kept and written back; there are no nanny processes to shut down.")},
	kwEntry{"rsh_command", ignoredWith(strVar(true, func(p *parser) *string { return &g(p).RSHCommand }),
		"remote load monitoring is not supported").about("Kept and written back.")},
	kwEntry{"ipvsadm", ignoredWith(strVar(true, func(p *parser) *string { return &g(p).IPVSAdm }), whyNoIPVSAdm).
		about("Kept and written back; govs uses netlink.")},
	kwEntry{"dataplane", enumKW([]string{"proxy", "ipvs", "auto"}, false, func(s string) (string, error) { return s, nil },
		func(p *parser) *string { return &g(p).Dataplane },
		func(s string) []string { r, _ := textOrUnset(s); return r }).ofGovs().
		about("The data plane: the userspace proxy, kernel IPVS, or `auto`: IPVS when govs runs as root on a kernel that has it, the proxy otherwise (`govs run` logs which and why).")},
	kwEntry{"http_listen", (&kwDef{n: 1, kind: KindText, set: func(p *parser, v []token) error {
		if _, err := netip.ParseAddrPort(v[0].text); err != nil {
			return fmt.Errorf("%q: want ADDRESS:PORT (e.g. 127.0.0.1:3636 or [::1]:3636)", v[0].text)
		}
		g(p).HTTPListen = v[0].text
		return nil
	}}).getter(func(p *parser) ([]string, error) { return textOrUnset(g(p).HTTPListen) }).
		resetter(func(cur, def *parser) { g(cur).HTTPListen = g(def).HTTPListen }).ofGovs().shown("`ADDRESS:PORT`").byDefault("off").
		about("Where `govs run` serves the web tool, its REST API and `/metrics` (e.g. `127.0.0.1:3636`, Piranha's port). Requires `http_users`.")},
	kwEntry{"http_tls_cert", strVar(true, func(p *parser) *string { return &g(p).HTTPTLSCert }).ofGovs().shown("file path").
		byDefault("none (plain HTTP)").about("PEM certificate for the web tool; with `http_tls_key`, both or neither.")},
	kwEntry{"http_tls_key", strVar(true, func(p *parser) *string { return &g(p).HTTPTLSKey }).ofGovs().shown("file path").
		byDefault("none (plain HTTP)").about("PEM key of `http_tls_cert`.")},
	kwEntry{"http_users", strVar(true, func(p *parser) *string { return &g(p).HTTPUsers }).ofGovs().shown("file path").
		about("The web tool's users, password hashes and API tokens, as `govs passwd` writes them.")},
	kwEntry{"metrics_auth", boolVar(func(p *parser) *bool { return &g(p).MetricsAuth }).ofGovs().
		about("`/metrics` asks for a bearer token (`Authorization: Bearer govs_...`, any user's: a read-only one is enough; Prometheus's `authorization: {credentials_file: ...}`) or a web session, as the API does. Off, `/metrics` is open to whoever reaches `http_listen`, as exporters usually are; it never shows check payloads or commands either way. Takes effect at the next reload.")},
	kwEntry{"max_conns", intVar(0, math.MaxInt32, func(p *parser) *int { return &g(p).MaxConns }).ofGovs().
		about("The most connections and UDP flows the proxy data plane holds at once, across services (0: what the descriptor limit allows after a reserve for the rest of the router, see dataplane/proxy). One more is refused and counted (`govs_dataplane_refused_total`); open ones carry on. The kernel plane refuses it: its connection table is bounded by memory.")},
	kwEntry{"vrrp_vrid", unsetVar(1, 255, func(p *parser) *int { return &g(p).VRRPVRID }).ofGovs().byDefault("51").
		about("VRRP virtual router id shared by the primary and backup router (`backup_active = 1` turns redundancy on; see package `vrrp`).").
		on(PageRedundancy, "VRRP (govs)", "Virtual router ID", "blank: the default, 51")},
	kwEntry{"vrrp_priority", unsetVar(1, 255, func(p *parser) *int { return &g(p).VRRPPriority }).ofGovs().
		byDefault("150 on the node owning `primary`, 100 otherwise").
		about("VRRP priority; the higher one wins an election. 255 claims to own the addresses and takes over at once.").
		on(PageRedundancy, "VRRP (govs)", "Priority", "blank: 150 on the primary, 100 on the backup")},
	kwEntry{"vrrp_preempt", boolVar(func(p *parser) *bool { return &g(p).VRRPPreempt }).ofGovs().
		about("A returning higher-priority router takes the active role back. Off, as pulse never failed back on its own.").
		on(PageRedundancy, "VRRP (govs)", "Preempt", "a higher priority takes the active role back")},
	kwEntry{"vrrp_interface", strVar(true, func(p *parser) *string { return &g(p).VRRPInterface }).ofGovs().shown("interface").
		byDefault("the one holding `primary`/`backup`").
		about("Where VRRP adverts are sent and received, and whose link `monitor_links` watches.").
		on(PageRedundancy, "VRRP (govs)", "VRRP interface", "blank: the one holding the primary/backup address")},
	kwEntry{"vrrp_unicast_peers", (&kwDef{n: 1, kind: KindText, set: func(p *parser, v []token) error {
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
	}}).getter(func(p *parser) ([]string, error) {
		if len(g(p).VRRPUnicastPeers) == 0 {
			return nil, nil
		}
		peers := make([]string, len(g(p).VRRPUnicastPeers))
		for i, a := range g(p).VRRPUnicastPeers {
			peers[i] = a.String()
		}
		return []string{strings.Join(peers, ",")}, nil
	}).resetter(func(cur, def *parser) { g(cur).VRRPUnicastPeers = g(def).VRRPUnicastPeers }).ofGovs().
		shown("comma list of addresses").byDefault("none (multicast 224.0.0.18 / ff02::12)").
		about("Send adverts to these addresses instead of multicasting, and accept adverts only from them, with any TTL (the address list is the check; keepalived's IPv6 unicast adverts come with hop limit 64). keepalived's `unicast_src_ip`/`unicast_peer` pair with it.").
		on(PageRedundancy, "VRRP (govs)", "Unicast peers", "comma-separated; blank: multicast adverts")},
	// VRRPv3 counts in centiseconds up to 4095; 10 ms is its finest step.
	kwEntry{"vrrp_advert_ms", field(intKW(10, 40950, func(p *parser, n int64) {
		g(p).VRRPAdvert = time.Duration(n/10*10) * time.Millisecond
	}), func(p *parser) *time.Duration { return &g(p).VRRPAdvert }, func(d time.Duration) ([]string, error) {
		if d == 0 {
			return nil, nil
		}
		return []string{fmt.Sprint(d.Milliseconds())}, nil
	}).ofGovs().shown("10-40950 ms").byDefault("`keepalive`").
		about("Advertisement interval finer than `keepalive`'s seconds (VRRPv3 counts centiseconds). When set, the master-down interval is VRRP's three adverts plus skew and `deadtime` is not used; otherwise `keepalive` is the advert interval and `deadtime` plus skew the master-down interval.").
		on(PageRedundancy, "VRRP (govs)", "Advert interval (ms)", "blank: from keepalive")},
	kwEntry{"state_sync_port", portVar(func(p *parser) *uint16 { return &g(p).StateSyncPort }).ofGovs().byDefault("8849").
		about("UDP port of the proxy plane's state sync: the active router streams persistence templates to the backup (to the partner address only). 0 is the default port.").
		on(PageRedundancy, "VRRP (govs)", "State sync port", "0: the default, 8849")},
	kwEntry{"sync", ignoredWith(boolKW(func(*parser, bool) {}), "legacy file synchronisation flag, unused").
		about("Legacy; dropped.")},
)
