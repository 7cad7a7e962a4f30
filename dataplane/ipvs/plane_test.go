package ipvs

import (
	"context"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/govs/govs/internal/testutil"
	"github.com/govs/govs/internal/testutil/reload"
	"github.com/govs/govs/model"
	"github.com/govs/govs/scheduler"
	"github.com/govs/govs/table"
)

var (
	vipNAT  = netip.MustParseAddr("192.0.2.10")
	vipDR   = netip.MustParseAddr("192.0.2.20")
	vipMark = netip.MustParseAddr("192.0.2.40")
	vip6    = netip.MustParseAddr("2001:db8::10")
	rs1     = netip.MustParseAddr("198.51.100.11")
	rs2     = netip.MustParseAddr("198.51.100.12")
	rs3     = netip.MustParseAddr("198.51.100.13")
	rs6     = netip.MustParseAddr("2001:db8:1::11")
)

func rsv(addr netip.Addr, port uint16, w int) model.RealServer {
	return model.RealServer{Name: addr.String(), Addr: addr, Port: port, Weight: w, Active: true}
}

// unitConfig holds one service of each kind the plane installs.
func unitConfig() *model.Config {
	return &model.Config{
		Global: model.Global{Network: model.ForwardNAT},
		Services: []model.Service{
			{Name: "web", Active: true, Proto: model.ProtoTCP, VIP: vipNAT, Port: 80, Scheduler: model.SchedWLC,
				RealServers: []model.RealServer{rsv(rs1, 8080, 1), rsv(rs2, 8080, 2)}},
			{Name: "dns", Active: true, Proto: model.ProtoUDP, VIP: vipNAT, Port: 53, Scheduler: model.SchedRR,
				OnePacket: true, RealServers: []model.RealServer{rsv(rs1, 53, 1)}},
			{Name: "dr", Active: true, Proto: model.ProtoTCP, VIP: vipDR, Port: 80, Scheduler: model.SchedSH,
				SchedFlags: model.FlagFallback | model.FlagPort,
				RealServers: []model.RealServer{
					{Name: "a", Addr: rs1, Port: 80, Weight: 1, Active: true, Forward: model.ForwardDR, UpperThreshold: 100, LowerThreshold: 50},
					{Name: "b", Addr: rs2, Port: 80, Weight: 1, Active: true, Forward: model.ForwardTUN, Tunnel: model.TunnelGRE}}},
			{Name: "bundle", Active: true, Proto: model.ProtoTCP, VIP: vipMark, Port: 80, FWMark: 80,
				MarkPorts: model.PortRanges{{First: 80, Last: 80}, {First: 443, Last: 443}}, Scheduler: model.SchedRR,
				Persistence: model.Persistence{Timeout: 300 * time.Second, PrefixLen: 24},
				RealServers: []model.RealServer{rsv(rs1, 0, 1), rsv(rs2, 0, 1)}},
			{Name: "v6", Active: true, Proto: model.ProtoTCP, VIP: vip6, Port: 443, Scheduler: model.SchedWRR,
				RealServers: []model.RealServer{rsv(rs6, 443, 3)}},
		},
	}
}

type rig struct {
	t     *testing.T
	tb    *table.Table
	k     *fakeKernel
	m     *fakeMarker
	p     *Plane
	state string
}

func newRig(t *testing.T, k *fakeKernel, state string) *rig {
	t.Helper()
	if k == nil {
		k = newFakeKernel()
	}
	if state == "" {
		state = filepath.Join(t.TempDir(), "state.json")
	}
	r := &rig{t: t, k: k, m: &fakeMarker{}, state: state,
		tb: table.New(table.Options{NewScheduler: scheduler.New})}
	p, err := New(r.tb, Options{Kernel: k, Marker: r.m, StateFile: state, RepairInterval: -1, StatsInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	r.p = p
	return r
}

// wantSysctl checks the value the plane last set the kernel's sysctl name
// to; when says in which configuration.
func (r *rig) wantSysctl(name, want, when string) {
	r.t.Helper()
	if got := r.k.sysctl(name); got != want {
		r.t.Errorf("%s: %s = %q, want %s", when, name, got, want)
	}
}

// apply follows the router's path: Prepare, table.Apply, Commit.
func (r *rig) apply(cfg *model.Config) {
	r.t.Helper()
	if err := reload.Apply(r.p, r.tb, cfg); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) svc(k model.ServiceKey) *fakeSvc {
	r.t.Helper()
	s := r.k.service(k)
	if s == nil {
		r.t.Fatalf("kernel has no service %s", k)
	}
	return s
}

func tcp(a netip.Addr, port uint16) model.ServiceKey {
	return model.TCPKey(netip.AddrPortFrom(a, port))
}

func TestCommitInstallsTable(t *testing.T) {
	r := newRig(t, nil, "")
	r.apply(unitConfig())

	web := r.svc(tcp(vipNAT, 80))
	if web.svc.Scheduler != "wlc" || web.svc.Flags != 0 || len(web.dests) != 2 {
		t.Fatalf("web: %+v", web)
	}
	if d := web.dests[1]; d.Addr != rs2 || d.Port != 8080 || d.Weight != 2 || d.Forward != model.ForwardNAT {
		t.Errorf("web dest: %+v (want the router-wide nat)", d)
	}
	dns := r.svc(model.UDPKey(netip.AddrPortFrom(vipNAT, 53)))
	if dns.svc.Flags != svcFlagOnePacket {
		t.Errorf("dns flags %#x, want one-packet", dns.svc.Flags)
	}
	dr := r.svc(tcp(vipDR, 80))
	if dr.svc.Flags != svcFlagSched1|svcFlagSched2 {
		t.Errorf("dr flags %#x, want sh-fallback,sh-port", dr.svc.Flags)
	}
	if a, b := dr.dests[0], dr.dests[1]; a.Forward != model.ForwardDR || a.Upper != 100 || a.Lower != 50 ||
		b.Forward != model.ForwardTUN || b.Tunnel != model.TunnelGRE {
		t.Errorf("dr dests %+v", dr.dests)
	}
	mark := r.svc(model.MarkKey(model.IPv4, 80))
	if mark.svc.Flags != svcFlagPersistent || mark.svc.Timeout != 300 || mark.svc.PrefixLen != 24 {
		t.Errorf("mark service %+v", mark.svc)
	}
	if d := mark.dests[0]; d.Port != 0 {
		t.Errorf("mark real server port %d, want 0 (the client's port)", d.Port)
	}
	if s := r.svc(tcp(vip6, 443)); s.dests[0].Addr != rs6 || s.dests[0].Weight != 3 {
		t.Errorf("v6: %+v", s)
	}
	rules := r.m.get()
	if len(rules) != 1 || rules[0].String() != "ip daddr 192.0.2.40 tcp dport { 80, 443 } meta mark set 0x00000050" {
		t.Errorf("mark rules %v", rules)
	}
	owned, err := loadState(r.state)
	if err != nil || len(owned) != 5 {
		t.Errorf("state file records %d services (%v), want 5", len(owned), err)
	}
}

// A reload that changes nothing changes nothing in the kernel; one that
// changes a weight edits that one real server.
func TestReloadChangesOnlyDifferences(t *testing.T) {
	r := newRig(t, nil, "")
	cfg := unitConfig()
	r.apply(cfg)
	r.k.take()
	r.apply(unitConfig())
	if ch := r.k.take(); len(ch) != 0 {
		t.Fatalf("identical reload made %d changes: %v", len(ch), ch)
	}
	cfg = unitConfig()
	cfg.Services[0].RealServers[1].Weight = 5
	cfg.Services[0].RealServers = append(cfg.Services[0].RealServers, rsv(rs3, 8080, 1))
	cfg.Services[3].Persistence.Timeout = 600 * time.Second
	cfg.Services = cfg.Services[:4] // drop v6
	r.apply(cfg)
	got := map[string]bool{}
	for _, op := range r.k.take() {
		got[op.String()] = true
	}
	want := []string{
		"edit real server 198.51.100.12:8080 of TCP  192.0.2.10:80 (nat, weight 5)",
		"add real server 198.51.100.13:8080 to TCP  192.0.2.10:80 (nat, weight 1)",
		"edit service FWM  80",
		"delete service TCP  [2001:db8::10]:443",
	}
	for _, w := range want {
		if !got[w] {
			t.Errorf("missing change %q", w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("changes %v, want exactly %v", got, want)
	}
}

// Down and Disabled real servers leave the kernel, Quiesced and Draining
// ones stay at weight 0, and the sorry server comes in when none is up.
func TestStatesFollowTable(t *testing.T) {
	r := newRig(t, nil, "")
	cfg := unitConfig()
	sorry := netip.AddrPortFrom(rs3, 8080)
	cfg.Services[0].Sorry = sorry
	r.apply(cfg)
	s := r.tb.Service(tcp(vipNAT, 80))
	k1, k2 := model.DestKey{Addr: rs1, Port: 8080}, model.DestKey{Addr: rs2, Port: 8080}
	s.SetState(k1, table.StateDown, "test")
	testutil.WaitFor(t, 5*time.Second, "rs1 down to leave the kernel", func() bool { return len(r.svc(tcp(vipNAT, 80)).dests) == 1 })
	s.SetState(k2, table.StateQuiesced, "test")
	testutil.WaitFor(t, 5*time.Second, "rs2 quiesced at weight 0, the sorry server in", func() bool {
		ds := r.svc(tcp(vipNAT, 80)).dests
		return len(ds) == 2 && ds[0].Weight == 0 && ds[1].Key() == model.DestKey{Addr: rs3, Port: 8080} && ds[1].Weight == 1
	})
	s.SetState(k1, table.StateUp, "test")
	testutil.WaitFor(t, 5*time.Second, "rs1 up again in place of the sorry server", func() bool {
		ds := r.svc(tcp(vipNAT, 80)).dests
		return len(ds) == 2 && ds[0].Key() == k2 && ds[1].Key() == k1 && ds[1].Weight == 1
	})
	s.SetState(k2, table.StateDisabled, "test")
	testutil.WaitFor(t, 5*time.Second, "rs2 disabled to leave the kernel", func() bool { return len(r.svc(tcp(vipNAT, 80)).dests) == 1 })
}

// Services govs did not create stay, through reloads, repairs and Close.
func TestForeignServicesLeftAlone(t *testing.T) {
	k := newFakeKernel()
	foreign := KService{Key: tcp(netip.MustParseAddr("192.0.2.99"), 22), Scheduler: "rr"}
	k.Apply([]Op{{Kind: OpAddService, Service: foreign}, {Kind: OpAddDest, Service: foreign, Dest: KDest{Addr: rs1, Port: 22, Weight: 1}}})
	k.take()
	r := newRig(t, k, "")
	r.apply(unitConfig())
	r.apply(&model.Config{})
	if err := r.p.Reconcile(); err != nil {
		t.Fatal(err)
	}
	if err := r.p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	svcs, _ := k.Services()
	if len(svcs) != 1 || svcs[0].Key != foreign.Key || len(k.service(foreign.Key).dests) != 1 {
		t.Fatalf("kernel after close: %+v", svcs)
	}
	for _, op := range k.take() {
		if op.Service.Key == foreign.Key {
			t.Errorf("touched the foreign service: %s", op)
		}
	}
	if !r.m.closed {
		t.Error("mark table not removed on close")
	}
}

// Drift repair restores what govs installed and leaves additions alone.
func TestRepairDrift(t *testing.T) {
	r := newRig(t, nil, "")
	r.apply(unitConfig())
	web := tcp(vipNAT, 80)
	foreign := KService{Key: tcp(netip.MustParseAddr("192.0.2.99"), 80), Scheduler: "wlc"}
	r.k.Apply([]Op{
		{Kind: OpDelDest, Service: KService{Key: web}, Dest: KDest{Addr: rs1, Port: 8080}},
		{Kind: OpEditDest, Service: KService{Key: web}, Dest: KDest{Addr: rs2, Port: 8080, Weight: 9, Forward: model.ForwardNAT}},
		{Kind: OpDelService, Service: KService{Key: tcp(vip6, 443)}},
		{Kind: OpAddService, Service: foreign},
	})
	r.m.Install(nil)
	r.k.take()
	if err := r.p.Reconcile(); err != nil {
		t.Fatal(err)
	}
	if n := len(r.k.take()); n != 4 { // add rs1, edit rs2, add v6 service and its server
		t.Errorf("repair made %d changes, want 4", n)
	}
	ds := r.svc(web).dests
	if len(ds) != 2 || ds[1].Weight != 1 {
		t.Errorf("web after repair: %+v", ds)
	}
	r.svc(tcp(vip6, 443))
	r.svc(foreign.Key)
	if len(r.m.get()) != 1 {
		t.Error("mark rules not reinstalled")
	}
}

// A restarted router knows its services from the state file: one the new
// configuration drops is removed, the others are taken over untouched.
func TestRestartKeepsOwnership(t *testing.T) {
	r := newRig(t, nil, "")
	r.apply(unitConfig())
	r.k.take()
	// The old process dies without Close; a new one starts.
	r2 := newRig(t, r.k, r.state)
	cfg := unitConfig()
	cfg.Services = cfg.Services[1:]
	r2.apply(cfg)
	ch := r.k.take()
	if len(ch) != 1 || ch[0].Kind != OpDelService || ch[0].Service.Key != tcp(vipNAT, 80) {
		t.Fatalf("restart changes %v, want only the dropped service removed", ch)
	}
}

// The kernel's counts and counters appear in the table.
func TestStatsMirror(t *testing.T) {
	r := newRig(t, nil, "")
	r.apply(unitConfig())
	web := tcp(vipNAT, 80)
	r.k.mu.Lock()
	s := r.k.svcs[web]
	s.svc.Stats = table.Stats{Conns: 10, InPkts: 100, OutPkts: 90, InBytes: 5000, OutBytes: 9000}
	s.dests[0].Active, s.dests[0].Inactive, s.dests[0].Persist = 3, 4, 1
	s.dests[0].Stats = table.Stats{Conns: 7}
	r.k.mu.Unlock()
	if err := r.p.mirrorStats(); err != nil {
		t.Fatal(err)
	}
	ts := r.tb.Service(web)
	d := ts.Dest(model.DestKey{Addr: rs1, Port: 8080})
	if d.ActiveConns() != 3 || d.InactiveConns() != 4 || d.PersistConns() != 1 || d.Counters.Conns.Load() != 7 {
		t.Errorf("dest counts %d/%d/%d conns %d", d.ActiveConns(), d.InactiveConns(), d.PersistConns(), d.Counters.Conns.Load())
	}
	if st := ts.Counters.Snapshot(); st.InBytes != 5000 || st.Conns != 10 {
		t.Errorf("service counters %+v", st)
	}
}

func TestSyncDaemonAndTimeouts(t *testing.T) {
	r := newRig(t, nil, "")
	cfg := unitConfig()
	cfg.Global.SyncDaemon, cfg.Global.SyncdIface, cfg.Global.SyncdID = true, "eth1", 7
	cfg.Global.TCPTimeout = 600 * time.Second
	r.apply(cfg)
	if d, _ := r.k.Daemons(); len(d) != 1 || d[0] != (Daemon{State: SyncMaster, Iface: "eth1", SyncID: 7}) {
		t.Fatalf("daemons %+v", d)
	}
	if to, _ := r.k.Timeouts(); to.TCP != 600*time.Second || to.UDP != 300*time.Second {
		t.Errorf("timeouts %+v: want tcp 600 s, udp left at the kernel's", to)
	}
	if err := r.p.SetSyncState(SyncBackup); err != nil {
		t.Fatal(err)
	}
	if d, _ := r.k.Daemons(); len(d) != 1 || d[0].State != SyncBackup {
		t.Fatalf("after failover daemons %+v", d)
	}
	cfg.Global.SyncDaemon = false
	r.apply(cfg)
	if d, _ := r.k.Daemons(); len(d) != 0 {
		t.Fatalf("daemon left running after lvs.cf turned it off: %+v", d)
	}
}

// A failed change leaves the plane knowing it must re-read the kernel, and
// the next reconcile completes the job.
func TestFailureRecovers(t *testing.T) {
	r := newRig(t, nil, "")
	r.k.failAt = 3
	tx, _ := r.p.Prepare(context.Background(), unitConfig())
	r.tb.Apply(unitConfig())
	if err := tx.Commit(); err == nil || !strings.Contains(err.Error(), "injected") {
		t.Fatalf("commit error %v", err)
	}
	if err := r.p.Reconcile(); err != nil {
		t.Fatal(err)
	}
	if svcs, _ := r.k.Services(); len(svcs) != 5 {
		t.Fatalf("%d services after recovery", len(svcs))
	}
}

func TestPrepareRefuses(t *testing.T) {
	r := newRig(t, nil, "")
	cfg := unitConfig()
	cfg.Services[0].RealServers[0].Addr = rs6 // IPv6 NAT server of an IPv4 service
	cfg.Services[2].RealServers[1].Tunnel = model.TunnelGUE
	_, err := r.p.Prepare(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "tunnel mode") || !strings.Contains(err.Error(), "GUE") {
		t.Fatalf("Prepare error %v", err)
	}
	if ch := r.k.take(); len(ch) != 0 {
		t.Fatal("a refused configuration changed the kernel")
	}
}

func TestKeyString(t *testing.T) {
	for _, k := range []model.ServiceKey{tcp(vipNAT, 80), model.UDPKey(netip.AddrPortFrom(vip6, 53)),
		model.MarkKey(model.IPv4, 21), model.MarkKey(model.IPv6, 4000000000)} {
		got, err := parseKeyString(keyString(k))
		if err != nil || got != k {
			t.Errorf("%v: round trip %v %v", k, got, err)
		}
	}
}

func TestMarkRuleString(t *testing.T) {
	for _, tc := range []struct {
		r    MarkRule
		want string
	}{
		{MarkRule{Mark: 21, VIP: vipNAT, Proto: model.ProtoTCP, Ports: model.PortRanges{{First: 21, Last: 21}, {First: 10000, Last: 20000}}},
			"ip daddr 192.0.2.10 tcp dport { 21, 10000-20000 } meta mark set 0x00000015"},
		{MarkRule{Mark: 1, VIP: vip6, Proto: model.ProtoUDP, Ports: model.PortRanges{{First: 53, Last: 53}}},
			"ip6 daddr 2001:db8::10 udp dport 53 meta mark set 0x00000001"},
	} {
		if got := tc.r.String(); got != tc.want {
			t.Errorf("got %q want %q", got, tc.want)
		}
	}
}

// A real server or service dropped by a reload while it has connections
// takes no new ones (weight 0) and leaves the kernel once they are over.
func TestRemovedDrains(t *testing.T) {
	r := newRig(t, nil, "")
	r.apply(unitConfig())
	web, dns := tcp(vipNAT, 80), model.UDPKey(netip.AddrPortFrom(vipNAT, 53))
	r.k.mu.Lock()
	r.k.svcs[web].dests[1].Active = 2 // rs2
	r.k.svcs[dns].dests[0].Inactive = 1
	r.k.mu.Unlock()
	cfg := unitConfig()
	cfg.Services[0].RealServers = cfg.Services[0].RealServers[:1]
	cfg.Services = append(cfg.Services[:1], cfg.Services[2:]...)
	r.apply(cfg)
	if ds := r.svc(web).dests; len(ds) != 2 || ds[1].Weight != 0 {
		t.Fatalf("web after reload: %+v, want rs2 kept at weight 0", ds)
	}
	if ds := r.svc(dns).dests; len(ds) != 1 || ds[0].Weight != 0 {
		t.Fatalf("dns after reload: %+v", ds)
	}
	r.k.mu.Lock()
	r.k.svcs[web].dests[1].Active = 0
	r.k.svcs[dns].dests[0].Inactive = 0
	r.k.mu.Unlock()
	if err := r.p.Reconcile(); err != nil {
		t.Fatal(err)
	}
	if ds := r.svc(web).dests; len(ds) != 1 {
		t.Fatalf("web after drain: %+v", ds)
	}
	if r.k.service(dns) != nil {
		t.Fatal("dropped service still installed after its connections ended")
	}
	if owned, _ := loadState(r.state); owned[dns] {
		t.Fatal("drained service still recorded as govs's")
	}
}

// expire_quiescent_template reaches the kernel's sysctl: off by default
// (written, so a value left by someone else does not linger), on from the
// global keyword or from a persistent service's expire_quiescent.
func TestExpireQuiescentSysctl(t *testing.T) {
	r, cfg := newRig(t, nil, ""), unitConfig()
	r.apply(cfg)
	r.wantSysctl("expire_quiescent_template", "0", "by default")
	cfg.Global.ExpireQuiescentTemplate = true
	r.apply(cfg)
	r.wantSysctl("expire_quiescent_template", "1", "with expire_quiescent_template = 1")
	cfg.Global.ExpireQuiescentTemplate = false
	for i := range cfg.Services {
		cfg.Services[i].Persistence = model.Persistence{Timeout: 300 * time.Second, ExpireQuiescent: i == 0}
	}
	r.apply(cfg)
	r.wantSysctl("expire_quiescent_template", "1", "with one service's expire_quiescent")
}

// A real server removed while it has connections stays listed, removed,
// with the kernel's live counts, while the kernel keeps it at weight 0,
// and leaves the listing when the kernel's last connection to it ends.
func TestRemovedServerMirrored(t *testing.T) {
	r := newRig(t, nil, "")
	cfg := unitConfig()
	r.apply(cfg)
	web := tcp(vipNAT, 80)
	setCounts := func(active, inactive int) {
		r.k.mu.Lock()
		for i, d := range r.k.svcs[web].dests {
			if d.Addr == rs2 {
				r.k.svcs[web].dests[i].Active, r.k.svcs[web].dests[i].Inactive = active, inactive
			}
		}
		r.k.mu.Unlock()
		if err := r.p.mirrorStats(); err != nil {
			t.Fatal(err)
		}
	}
	setCounts(2, 1)
	cfg.Services[0].RealServers = cfg.Services[0].RealServers[:1]
	r.apply(cfg)
	listed := func() (bool, int, int) {
		for _, d := range r.tb.Snapshot().Services[0].Dests {
			if d.Addr == rs2.String() {
				return d.Removed, d.ActiveConns, d.InactiveConns
			}
		}
		return false, -1, -1
	}
	setCounts(1, 3)
	if removed, a, i := listed(); !removed || a != 1 || i != 3 {
		t.Errorf("draining removed server: removed %v, %d active, %d inactive; want true, 1, 3 (the kernel's)", removed, a, i)
	}
	setCounts(0, 0)
	if _, a, _ := listed(); a != -1 {
		t.Errorf("the removed server is still listed after the kernel's last connection to it ended")
	}
}

// With expire_nodest_conn, the sysctl is on and a real server removed from
// the file while it has connections leaves the kernel at once, as ipvsadm
// -d would: the kernel then expires its connections.
func TestExpireNodestConn(t *testing.T) {
	r, cfg := newRig(t, nil, ""), unitConfig()
	r.apply(cfg)
	r.wantSysctl("expire_nodest_conn", "0", "by default")
	web := tcp(vipNAT, 80)
	inKernel := func() bool {
		r.k.mu.Lock()
		defer r.k.mu.Unlock()
		for _, d := range r.k.svcs[web].dests {
			if d.Addr == rs2 {
				return true
			}
		}
		return false
	}
	r.k.mu.Lock()
	for i, d := range r.k.svcs[web].dests {
		if d.Addr == rs2 {
			r.k.svcs[web].dests[i].Active = 2
		}
	}
	r.k.mu.Unlock()
	if err := r.p.mirrorStats(); err != nil {
		t.Fatal(err)
	}
	cfg.Global.ExpireNodestConn = true
	cfg.Services[0].RealServers = cfg.Services[0].RealServers[:1]
	r.apply(cfg)
	r.wantSysctl("expire_nodest_conn", "1", "with expire_nodest_conn = 1")
	if inKernel() {
		t.Error("a removed real server with connections stays in the kernel despite expire_nodest_conn")
	}
}
