//go:build linux

package ipvs

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/govs/govs/internal/testutil"
	"github.com/govs/govs/model"
	"github.com/govs/govs/table"
)

// A reload under a running client load fails no connection: real servers
// added, reweighted and dropped (they drain), services added and removed,
// persistence and timeouts changed. The scheduler stays: the kernel refuses
// new connections to a service for the moment it swaps its scheduler.
func TestGuestReloadUnderLoad(t *testing.T) {
	topology(t)
	g := newGuestPlane(t, Options{})
	base := func(variant int) *model.Config {
		s := gService("nat", model.ProtoTCP, vipNAT, 80, model.SchedWLC, gServer(0, 8080, 1, 0), gServer(1, 8080, 2, 0))
		other := gService("other", model.ProtoTCP, vipNAT, 443, model.SchedRR, gServer(2, 443, 1, 0))
		cfg := &model.Config{Global: model.Global{Network: model.ForwardNAT}, Services: []model.Service{s}}
		switch variant % 4 {
		case 1:
			cfg.Services[0].RealServers = append(cfg.Services[0].RealServers, gServer(2, 8080, 1, 0))
			cfg.Services = append(cfg.Services, other)
		case 2:
			cfg.Services[0].RealServers[0].Weight = 3
			cfg.Services[0].RealServers = append(cfg.Services[0].RealServers, gServer(2, 8080, 1, 0))
		case 3:
			cfg.Services[0].Persistence = model.Persistence{Timeout: 30 * time.Second}
			cfg.Global.TCPTimeout = 600 * time.Second
		}
		return cfg
	}
	g.apply(base(0))

	const workers, perWorker = 3, 150
	type result struct{ ok, failed int }
	results := make(chan result, workers)
	stop := make(chan struct{})
	errs := make(chan error, workers*perWorker)
	for range workers {
		go func() {
			var r result
			_ = inNS("cl", func() error {
				for range perWorker {
					select {
					case <-stop:
						return nil
					default:
					}
					c, err := net.DialTimeout("tcp", hostPort(vipNAT, 80), 3*time.Second)
					if err == nil {
						_ = c.SetDeadline(time.Now().Add(5 * time.Second))
						buf := make([]byte, 4)
						_, err = c.Read(buf)
						c.Close()
					}
					if err != nil {
						r.failed++
						errs <- err
					} else {
						r.ok++
					}
				}
				return nil
			})
			results <- r
		}()
	}
	reloads := 0
	for i := 1; i <= 12; i++ {
		time.Sleep(100 * time.Millisecond)
		g.apply(base(i))
		reloads++
	}
	close(stop)
	var total result
	for range workers {
		r := <-results
		total.ok += r.ok
		total.failed += r.failed
	}
	close(errs)
	for err := range errs {
		t.Errorf("connection failed: %v", err)
	}
	if total.failed > 0 || total.ok < 50 {
		t.Fatalf("%d connections, %d failed, across %d reloads", total.ok, total.failed, reloads)
	}
	t.Logf("%d connections, none failed, across %d reloads", total.ok, reloads)
}

// Drift repair: a real server deleted by hand comes back, a weight changed
// by hand is restored, a service added by hand stays; the log says what
// was repaired.
func TestGuestDriftRepair(t *testing.T) {
	topology(t)
	g := newGuestPlane(t, Options{RepairInterval: 300 * time.Millisecond})
	g.apply(&model.Config{Global: model.Global{Network: model.ForwardNAT}, Services: []model.Service{
		gService("nat", model.ProtoTCP, vipNAT, 80, model.SchedRR, gServer(0, 8080, 1, 0), gServer(1, 8080, 1, 0))}})
	want := ipvsadmList(t)
	t.Cleanup(func() { _, _ = run("ipvsadm", "-D", "-t", "192.0.2.99:80") })
	mustRun(t, "ipvsadm", "-d", "-t", "192.0.2.10:80", "-r", "198.51.100.11:8080")
	mustRun(t, "ipvsadm", "-e", "-t", "192.0.2.10:80", "-r", "198.51.100.12:8080", "-m", "-w", "7")
	mustRun(t, "ipvsadm", "-A", "-t", "192.0.2.99:80", "-s", "rr")
	mustRun(t, "ipvsadm", "-a", "-t", "192.0.2.99:80", "-r", "198.51.100.13:80", "-m")
	testutil.WaitFor(t, 10*time.Second, "repair of the hand-made changes", func() bool {
		got := ipvsadmList(t)
		return strings.Contains(got, "198.51.100.11:8080") && !strings.Contains(got, "Masq    7")
	})
	time.Sleep(700 * time.Millisecond) // more repair rounds: the foreign service must survive them
	got := ipvsadmList(t)
	if !strings.Contains(got, "TCP  192.0.2.99:80 rr") || !strings.Contains(got, "198.51.100.13:80") {
		t.Fatalf("the hand-made service was touched:\n%s", got)
	}
	if dropService(got, "TCP  192.0.2.99:80") != want {
		t.Errorf("after repair:\n%s\nwant govs's part as before:\n%s", got, want)
	}
	log := g.log.String()
	for _, w := range []string{"repaired drift", "add real server 198.51.100.11:8080", "edit real server 198.51.100.12:8080"} {
		if !strings.Contains(log, w) {
			t.Errorf("log lacks %q:\n%s", w, log)
		}
	}
}

// A health failure (the table moves a real server Down) removes it from
// the kernel; quiesce (weight 0) keeps its established connections while
// new ones go elsewhere; the kernel's counts reach the table.
func TestGuestHealthAndQuiesce(t *testing.T) {
	topology(t)
	g := newGuestPlane(t, Options{StatsInterval: 300 * time.Millisecond})
	g.apply(&model.Config{Global: model.Global{Network: model.ForwardNAT}, Services: []model.Service{
		gService("nat", model.ProtoTCP, vipNAT, 80, model.SchedRR, gServer(0, 80, 1, 0), gServer(1, 80, 1, 0))}})
	svc := g.tb.Service(model.TCPKey(netip.AddrPortFrom(vipNAT, 80)))
	first, conn, err := greet(hostPort(vipNAT, 80))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	idx := map[string]int{"rs1": 0, "rs2": 1}
	held := model.DestKey{Addr: gRS[idx[first]], Port: 80}
	other := model.DestKey{Addr: gRS[1-idx[first]], Port: 80}
	testutil.WaitFor(t, 5*time.Second, "the kernel's active count in the table", func() bool {
		return svc.Dest(held).ActiveConns() == 1
	})

	svc.SetState(held, table.StateQuiesced, "test")
	testutil.WaitFor(t, 5*time.Second, "weight 0 in the kernel", func() bool {
		return strings.Contains(ipvsadmList(t), fmt.Sprintf("-> %-28s Masq    0", held.String()))
	})
	if err := echo(conn); err != nil {
		t.Fatalf("established connection to the quiesced server: %v", err)
	}
	for range 4 {
		n, err := name(hostPort(vipNAT, 80))
		if err != nil {
			t.Fatal(err)
		}
		if n == first {
			t.Fatal("a new connection went to the quiesced server")
		}
	}
	svc.SetState(other, table.StateDown, "health check failed")
	testutil.WaitFor(t, 5*time.Second, "the failed server removed from the kernel", func() bool {
		return !strings.Contains(ipvsadmList(t), other.String())
	})
	if err := echo(conn); err != nil {
		t.Fatalf("established connection after the other server failed: %v", err)
	}
	if !strings.Contains(ipvsadmList(t), held.String()) {
		t.Fatal("the quiesced server left the kernel")
	}
}

// The sync daemon runs as lvs.cf configures it and stops with the plane.
func TestGuestSyncDaemon(t *testing.T) {
	topology(t)
	t.Cleanup(func() {
		if out, _ := run("ipvsadm", "-L", "--daemon"); strings.TrimSpace(out) != "" {
			t.Errorf("sync daemon left running after Close:\n%s", out)
		}
	})
	g := newGuestPlane(t, Options{})
	g.apply(&model.Config{Global: model.Global{Network: model.ForwardNAT, SyncDaemon: true, SyncdIface: "rc", SyncdID: 7},
		Services: []model.Service{gService("nat", model.ProtoTCP, vipNAT, 80, model.SchedRR, gServer(0, 80, 1, 0))}})
	out := mustRun(t, "ipvsadm", "-L", "--daemon")
	if !strings.Contains(out, "master sync daemon (mcast=rc, syncid=7") {
		t.Fatalf("ipvsadm -L --daemon:\n%s", out)
	}
	if err := g.p.SetSyncState(SyncBackup); err != nil {
		t.Fatal(err)
	}
	out = mustRun(t, "ipvsadm", "-L", "--daemon")
	if !strings.Contains(out, "backup sync daemon (mcast=rc, syncid=7") || strings.Contains(out, "master") {
		t.Fatalf("after SetSyncState(backup), ipvsadm -L --daemon:\n%s", out)
	}
	if err := g.p.SetSyncState(SyncMaster); err != nil {
		t.Fatal(err)
	}
	g.apply(&model.Config{Global: model.Global{Network: model.ForwardNAT, SyncDaemon: true, SyncdIface: "rc", SyncdID: 7},
		Services: []model.Service{gService("nat", model.ProtoTCP, vipNAT, 80, model.SchedRR, gServer(0, 80, 1, 0))}})
}

// dropService removes one service and its real servers from an ipvsadm
