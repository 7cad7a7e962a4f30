package config

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/govs/govs/model"
)

// quoteToken renders s as one lvs.cf token. always asks for quotes even
// where a bare word would do, which Write uses for the probe strings so
// their exact text is visible. With no escapes in the grammar, a value
// holding both kinds of quote can only be written bare, and a line break
// never.
func quoteToken(s string, always bool) (string, error) {
	if strings.ContainsAny(s, "\r\n") {
		return "", errors.New("a value cannot contain a line break")
	}
	bare := s != "" && !strings.ContainsAny(s, " \t") && s[0] != '"' && s[0] != '\''
	if bare && !always {
		return s, nil
	}
	switch {
	case !strings.Contains(s, `"`):
		return `"` + s + `"`, nil
	case !strings.Contains(s, `'`):
		return `'` + s + `'`, nil
	case bare:
		return s, nil
	}
	return "", fmt.Errorf("%q holds both kinds of quote and a blank, which lvs.cf cannot express", s)
}

// writer accumulates output and the first error, so the emitting code
// reads as the file it produces.
type writer struct {
	b      strings.Builder
	err    error
	indent string
}

func (w *writer) fail(err error) {
	if w.err == nil {
		w.err = err
	}
}

func (w *writer) line(parts ...string) {
	w.b.WriteString(w.indent)
	w.b.WriteString(strings.Join(parts, " "))
	w.b.WriteByte('\n')
}

// kv writes `key = value` with the value as one token.
func (w *writer) kv(key, value string) {
	w.kvq(key, value, false)
}

func (w *writer) kvq(key, value string, always bool) {
	t, err := quoteToken(value, always)
	if err != nil {
		w.fail(fmt.Errorf("%s: %v", key, err))
		return
	}
	w.line(key, "=", t)
}

func (w *writer) kvInt(key string, n int64) { w.line(key, "=", strconv.FormatInt(n, 10)) }

func (w *writer) kvBool(key string, b bool) {
	if b {
		w.line(key, "=", "1")
	} else {
		w.line(key, "=", "0")
	}
}

// kvSec writes a duration as lvs.cf's whole seconds.
func (w *writer) kvSec(key string, d time.Duration) {
	if d%time.Second != 0 {
		w.fail(fmt.Errorf("%s: %v is not a whole number of seconds", key, d))
		return
	}
	w.kvInt(key, int64(d/time.Second))
}

// mask writes a prefix length the way Parse reads it back: a dotted quad
// for IPv4, the bare length for IPv6.
func (w *writer) mask(key string, bits, family int) {
	if family == 6 {
		w.kvInt(key, int64(bits))
		return
	}
	if bits < 0 || bits > 32 {
		w.kvInt(key, int64(bits))
		return
	}
	w.line(key, "=", dottedMask(bits))
}

func (w *writer) name(kind, name string) string {
	t, err := quoteToken(name, false)
	if err != nil {
		w.fail(fmt.Errorf("%s name: %v", kind, err))
	}
	return t
}

// Write writes c as canonical lvs.cf: global keywords first in a fixed
// order, then the virtual blocks with their server blocks, indented by four
// spaces per level. Values equal to their defaults are left out, so for
// every model Parse returns, Parse(Write(c)) equals c. Write fails only for
// values the format cannot express (a line break in a string, a fraction of
// a second, a check keyword it does not know); run Validate first for the
// rest.
func Write(out io.Writer, c *model.Config) error {
	w := &writer{}
	w.global(&c.Global)
	for i := range c.Services {
		w.b.WriteByte('\n')
		w.service(&c.Services[i])
	}
	if w.err != nil {
		return w.err
	}
	bw := bufio.NewWriter(out)
	if _, err := bw.WriteString(w.b.String()); err != nil {
		return err
	}
	return bw.Flush()
}

func (w *writer) global(gl *model.Global) {
	if gl.SerialNo != 0 {
		w.kvInt("serial_no", int64(gl.SerialNo))
	}
	if gl.Primary.IsValid() {
		w.kv("primary", gl.Primary.String())
	}
	// Parse derives both private addresses from the public ones when
	// primary_private is absent, so they are written only when that
	// derivation would not reproduce them.
	derived := gl.Primary.IsValid() && gl.PrimaryPrivate == gl.Primary && gl.BackupPrivate == gl.Backup
	if !derived && gl.PrimaryPrivate.IsValid() {
		w.kv("primary_private", gl.PrimaryPrivate.String())
	}
	if gl.PrimaryShared != "" {
		w.kv("primary_shared", gl.PrimaryShared)
	}
	service := gl.Service
	if service == "" {
		service = "lvs"
	}
	// Always written, as Piranha's tool did, so that even an all-default
	// configuration is a non-empty file.
	w.kv("service", service)
	if gl.BackupActive {
		w.kvBool("backup_active", true)
	}
	if gl.Backup.IsValid() {
		w.kv("backup", gl.Backup.String())
	}
	if !derived && gl.BackupPrivate.IsValid() {
		w.kv("backup_private", gl.BackupPrivate.String())
	}
	if gl.BackupShared != "" {
		w.kv("backup_shared", gl.BackupShared)
	}
	if gl.Heartbeat {
		w.kvBool("heartbeat", true)
	}
	if gl.HeartbeatPort != model.DefaultHeartbeatPort {
		w.kvInt("heartbeat_port", int64(gl.HeartbeatPort))
	}
	if gl.Keepalive != model.DefaultKeepalive {
		w.kvSec("keepalive", gl.Keepalive)
	}
	if gl.Deadtime != model.DefaultDeadtime {
		w.kvSec("deadtime", gl.Deadtime)
	}
	if gl.Network != model.ForwardDefault && gl.Network != model.ForwardNAT {
		w.kv("network", gl.Network.String())
	}
	if gl.NATRouter.IsValid() {
		dev, err := quoteToken(gl.NATRouterDev, false)
		if err != nil {
			w.fail(fmt.Errorf("nat_router: %v", err))
		}
		w.line("nat_router", "=", gl.NATRouter.String(), dev)
	}
	if gl.NATPrefixLen != 0 {
		fam := 4
		if gl.NATRouter.IsValid() {
			fam = int(model.FamilyOf(gl.NATRouter))
		}
		w.mask("nat_nmask", gl.NATPrefixLen, fam)
	}
	if gl.ReservationConflictAction != "" {
		w.kv("reservation_conflict_action", gl.ReservationConflictAction)
	}
	if gl.DebugLevel != model.DefaultDebugLevel {
		w.kv("debug_level", gl.DebugLevel)
	}
	if gl.MonitorLinks {
		w.kvBool("monitor_links", true)
	}
	if gl.SyncDaemon {
		w.kvBool("syncdaemon", true)
	}
	if gl.ExpireQuiescentTemplate {
		w.kvBool("expire_quiescent_template", true)
	}
	if gl.ExpireNodestConn {
		w.kvBool("expire_nodest_conn", true)
	}
	if gl.SyncdIface != model.DefaultSyncdIface {
		w.kv("syncd_iface", gl.SyncdIface)
	}
	if gl.SyncdID != 0 {
		w.kvInt("syncd_id", int64(gl.SyncdID))
	}
	if gl.TCPTimeout != 0 {
		w.kvSec("tcp_timeout", gl.TCPTimeout)
	}
	if gl.TCPFinTimeout != 0 {
		w.kvSec("tcpfin_timeout", gl.TCPFinTimeout)
	}
	if gl.UDPTimeout != 0 {
		w.kvSec("udp_timeout", gl.UDPTimeout)
	}
	if gl.ActiveCmd != "" {
		w.kv("active_cmd", gl.ActiveCmd)
	}
	if gl.InactiveCmd != "" {
		w.kv("inactive_cmd", gl.InactiveCmd)
	}
	if !gl.HardShutdown {
		w.kvBool("hard_shutdown", false)
	}
	if gl.RSHCommand != model.DefaultRSHCommand {
		w.kv("rsh_command", gl.RSHCommand)
	}
	if gl.IPVSAdm != model.DefaultIPVSAdm {
		w.kv("ipvsadm", gl.IPVSAdm)
	}
	if gl.Dataplane != "" && gl.Dataplane != model.DefaultDataplane {
		w.kv("dataplane", gl.Dataplane)
	}
	for _, kv := range [][2]string{{"http_listen", gl.HTTPListen}, {"http_tls_cert", gl.HTTPTLSCert},
		{"http_tls_key", gl.HTTPTLSKey}, {"http_users", gl.HTTPUsers}} {
		if kv[1] != "" {
			w.kv(kv[0], kv[1])
		}
	}
	if gl.MetricsAuth {
		w.kvBool("metrics_auth", true)
	}
	if gl.MaxConns != 0 {
		w.kvInt("max_conns", int64(gl.MaxConns))
	}
	if gl.VRRPVRID != 0 {
		w.kvInt("vrrp_vrid", int64(gl.VRRPVRID))
	}
	if gl.VRRPPriority != 0 {
		w.kvInt("vrrp_priority", int64(gl.VRRPPriority))
	}
	if gl.VRRPPreempt {
		w.kvBool("vrrp_preempt", true)
	}
	if gl.VRRPInterface != "" {
		w.kv("vrrp_interface", gl.VRRPInterface)
	}
	if len(gl.VRRPUnicastPeers) > 0 {
		peers := make([]string, len(gl.VRRPUnicastPeers))
		for i, a := range gl.VRRPUnicastPeers {
			peers[i] = a.String()
		}
		w.kv("vrrp_unicast_peers", strings.Join(peers, ","))
	}
	if gl.VRRPAdvert != 0 {
		w.kvInt("vrrp_advert_ms", gl.VRRPAdvert.Milliseconds())
	}
	if gl.StateSyncPort != 0 {
		w.kvInt("state_sync_port", int64(gl.StateSyncPort))
	}
}

func (w *writer) service(s *model.Service) {
	w.line("virtual", w.name("virtual", s.Name), "{")
	w.indent = "    "
	defer func() { w.indent = "" }()
	fam := 4
	if s.VIP.IsValid() {
		fam = int(model.FamilyOf(s.VIP))
	}
	if s.Active {
		w.kvBool("active", true)
	}
	if s.VIP.IsValid() {
		dev, err := quoteToken(s.Device, false)
		if err != nil {
			w.fail(fmt.Errorf("virtual %q: address: %v", s.Name, err))
		}
		w.line("address", "=", s.VIP.String(), dev)
	}
	if s.VIPPrefixLen != 0 {
		w.mask("vip_nmask", s.VIPPrefixLen, fam)
	}
	if s.Port != model.DefaultPort {
		w.kvInt("port", int64(s.Port))
	}
	if s.Proto != model.ProtoTCP {
		w.kv("protocol", strings.ToLower(s.Proto.String()))
	}
	if s.FWMark != 0 {
		w.kvInt("fwmark", int64(s.FWMark))
	}
	if len(s.MarkPorts) > 0 {
		w.kv("fwmark_ports", s.MarkPorts.String())
	}
	if s.Scheduler != model.DefaultScheduler {
		w.kv("scheduler", string(s.Scheduler))
	}
	if s.SchedFlags != 0 {
		w.kv("scheduler_flags", s.SchedFlags.Format(s.Scheduler))
	}
	if s.Persistence.Timeout != 0 {
		w.kvSec("persistent", s.Persistence.Timeout)
	}
	if s.Persistence.PrefixLen != 0 {
		w.mask("pmask", s.Persistence.PrefixLen, fam)
	}
	if s.Persistence.ExpireQuiescent {
		w.kvBool("expire_quiescent", true)
	}
	if s.OnePacket {
		w.kvBool("one_packet", true)
	}
	if s.MaxConns != 0 {
		w.kvInt("max_conns", int64(s.MaxConns))
	}
	if s.FTP {
		w.kvBool("ftp", true)
	}
	if s.Sorry.IsValid() {
		if s.Sorry.Port() == s.DefaultServerPort() {
			w.kv("sorry_server", s.Sorry.Addr().String())
		} else {
			w.kv("sorry_server", s.Sorry.String())
		}
	}
	ck := &s.Check
	if ck.Send != "" {
		w.kvq("send", ck.Send, true)
	}
	if ck.Expect != "" {
		w.kvq("expect", ck.Expect, true)
	}
	if ck.UseRegex {
		w.kvBool("use_regex", true)
	}
	if ck.SendProgram != "" {
		w.kvq("send_program", ck.SendProgram, true)
	}
	if ck.LoadMonitor != "" {
		w.kv("load_monitor", ck.LoadMonitor)
	}
	if ck.Interval != model.DefaultInterval {
		w.kvSec("timeout", ck.Interval)
	}
	if ck.Reentry != model.DefaultReentry {
		w.kvSec("reentry", ck.Reentry)
	}
	if ck.Quiesce {
		w.kvBool("quiesce_server", true)
	}
	for _, d := range checkExtras {
		if v, ok := ck.Extra[d.key]; ok {
			w.kv(d.key, v)
		}
	}
	var unknown []string
	for key := range ck.Extra {
		if extraByKey(key) == nil {
			unknown = append(unknown, key)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		w.fail(fmt.Errorf("virtual %q: unknown check keyword %q", s.Name, unknown[0]))
	}
	for i := range s.RealServers {
		w.b.WriteByte('\n')
		w.realServer(s, &s.RealServers[i])
	}
	w.indent = ""
	w.line("}")
}

func (w *writer) realServer(s *model.Service, r *model.RealServer) {
	w.indent = "    "
	w.line("server", w.name("server", r.Name), "{")
	w.indent = "        "
	if r.Addr.IsValid() {
		w.kv("address", r.Addr.String())
	}
	if r.Active {
		w.kvBool("active", true)
	}
	if r.Weight != model.DefaultWeight {
		w.kvInt("weight", int64(r.Weight))
	}
	if r.Port != s.DefaultServerPort() {
		w.kvInt("port", int64(r.Port))
	}
	if r.UpperThreshold != 0 {
		w.kvInt("uthreshold", int64(r.UpperThreshold))
	}
	if r.LowerThreshold != 0 {
		w.kvInt("lthreshold", int64(r.LowerThreshold))
	}
	if r.Forward != model.ForwardDefault {
		w.kv("network", r.Forward.String())
	}
	if r.Tunnel != model.TunnelIPIP {
		w.kv("tunnel_type", r.Tunnel.String())
	}
	if r.ProxyProtocol != 0 {
		w.kvInt("proxy_protocol", int64(r.ProxyProtocol))
	}
	w.indent = "    "
	w.line("}")
}
