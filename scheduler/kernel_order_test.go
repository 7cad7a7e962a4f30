package scheduler

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/govs/govs/clock"
	"github.com/govs/govs/model"
	"github.com/govs/govs/table"
)

// These tests run the schedulers behind a real table, fed as the data
// planes feed it: lvs.cf's order of real servers, reloads, health changes.
// The expected sequences are what Debian's 6.1 kernel picks for the same
// ipvsadm commands (the kernel plane adds real servers in lvs.cf order):
// the kernel links each new destination at the head of the service's list
// and calls its scheduler's add_dest once per destination.

var orderVIP = netip.MustParseAddr("192.0.2.100")

func orderService(sched model.Scheduler, weights ...int) model.Service {
	s := model.Service{Name: "web", Active: true, Proto: model.ProtoTCP, VIP: orderVIP, Port: 80, Scheduler: sched}
	for i, w := range weights {
		s.RealServers = append(s.RealServers, model.RealServer{Name: fmt.Sprint("s", i+1),
			Addr: netip.AddrFrom4([4]byte{198, 51, 100, byte(i + 1)}), Port: 80, Weight: w, Active: true})
	}
	return s
}

func orderTable(t *testing.T, svc model.Service) (*table.Table, *table.Service) {
	t.Helper()
	tb := table.New(table.Options{Clock: clock.NewFake(t0), NewScheduler: New})
	if _, err := tb.Apply(&model.Config{Services: []model.Service{svc}}); err != nil {
		t.Fatal(err)
	}
	return tb, tb.Service(svc.Key())
}

// picks schedules n short connections (each closed at once) from distinct
// clients and names the servers they reached: "3 2 1 ...".
func picks(t *testing.T, s *table.Service, n int) string {
	t.Helper()
	var out []string
	for i := range n {
		p := &table.Packet{Proto: model.ProtoTCP, Src: netip.AddrPortFrom(netip.AddrFrom4([4]byte{203, 0, 113, byte(i + 1)}), 40000),
			Dst: netip.AddrPortFrom(orderVIP, 80)}
		c, err := s.Schedule(p)
		if err != nil {
			out = append(out, "-")
			continue
		}
		out = append(out, strings.TrimPrefix(c.Dest().Config().Name, "s"))
		c.Close()
	}
	return strings.Join(out, " ")
}

func TestKernelOrderRR(t *testing.T) {
	_, s := orderTable(t, orderService(model.SchedRR, 1, 1, 1))
	if got, want := picks(t, s, 6), "3 2 1 3 2 1"; got != want {
		t.Errorf("rr over s1, s2, s3: %s, want %s (newest first)", got, want)
	}
}

func TestKernelOrderWRR(t *testing.T) {
	// Added one by one to a fresh service, weights 3, 2, 1 leave cw at 1
	// (ip_vs_wrr_dest_changed keeps a cw that is neither 0 nor above mw),
	// and the list is s3, s2, s1.
	_, s := orderTable(t, orderService(model.SchedWRR, 3, 2, 1))
	if got, want := picks(t, s, 12), "3 2 1 1 2 1 3 2 1 1 2 1"; got != want {
		t.Errorf("wrr 3:2:1: %s, want %s", got, want)
	}
}

// The first pick of a scheduler that breaks ties by list order goes to the
// newest real server.
func TestKernelOrderTies(t *testing.T) {
	for _, sc := range []model.Scheduler{model.SchedNQ, model.SchedSED, model.SchedWLC, model.SchedLC, model.SchedLBLC,
		model.SchedLBLCR, model.SchedFO, model.SchedOVF} {
		_, s := orderTable(t, orderService(sc, 1, 1, 1))
		if got := picks(t, s, 1); got != "3" {
			t.Errorf("%s: first pick s%s, want s3", sc, got)
		}
	}
	// dh fills its buckets in list order: bucket b holds list[b mod 3],
	// and 192.0.2.100's bucket is (0xc0000264 × 2654435761) mod 256 =
	// 0x64 × 0xb1 mod 256 = 36, 36 mod 3 = 0: the head, s3.
	_, s := orderTable(t, orderService(model.SchedDH, 1, 1, 1))
	if got := picks(t, s, 1); got != "3" {
		t.Errorf("dh: s%s, want s3", got)
	}
}

// A reload that adds a real server puts it at the head; one removed and
// added again comes back at the head; one that goes down and comes back
// up re-enters at the head, as the kernel plane deletes and re-adds it.
func TestKernelOrderChanges(t *testing.T) {
	tb, s := orderTable(t, orderService(model.SchedRR, 1, 1, 1))
	list := func() string {
		var out []string
		for _, d := range s.SchedList() {
			out = append(out, strings.TrimPrefix(d.Config().Name, "s"))
		}
		return strings.Join(out, " ")
	}
	if got := list(); got != "3 2 1" {
		t.Fatalf("list %s, want 3 2 1", got)
	}
	svc := orderService(model.SchedRR, 1, 1, 1, 1)
	if _, err := tb.Apply(&model.Config{Services: []model.Service{svc}}); err != nil {
		t.Fatal(err)
	}
	if got := list(); got != "4 3 2 1" {
		t.Errorf("after adding s4: %s, want 4 3 2 1", got)
	}
	without := svc
	without.RealServers = append(append([]model.RealServer(nil), svc.RealServers[:1]...), svc.RealServers[2:]...)
	if _, err := tb.Apply(&model.Config{Services: []model.Service{without}}); err != nil {
		t.Fatal(err)
	}
	if _, err := tb.Apply(&model.Config{Services: []model.Service{svc}}); err != nil {
		t.Fatal(err)
	}
	if got := list(); got != "2 4 3 1" {
		t.Errorf("after removing and re-adding s2: %s, want 2 4 3 1", got)
	}
	k := svc.RealServers[2].Key()
	s.SetState(k, table.StateDown, "check failed")
	// Listed as ipvsadm lists the kernel's table, newest first; a server
	// out of the kernel's list (down) comes after.
	var listed []string
	for _, d := range tb.Snapshot().Services[0].Dests {
		listed = append(listed, strings.TrimPrefix(d.Name, "s"))
	}
	if got := strings.Join(listed, " "); got != "2 4 1 3" {
		t.Errorf("listing with s3 down: %s, want 2 4 1 3", got)
	}
	s.SetState(k, table.StateUp, "check passed")
	if got := list(); got != "3 2 4 1" {
		t.Errorf("after s3 went down and up: %s, want 3 2 4 1", got)
	}
	// A weight change leaves the order alone.
	svc.RealServers[0].Weight = 5
	if _, err := tb.Apply(&model.Config{Services: []model.Service{svc}}); err != nil {
		t.Fatal(err)
	}
	if got := list(); got != "3 2 4 1" {
		t.Errorf("after reweighting s1: %s, want 3 2 4 1", got)
	}
}

// Short connections balance under lc and wlc because the kernel keeps a
// closed connection in its table (TIME_WAIT, two minutes) and counts it
// among the real server's inactive ones: the load is active × 256 +
// inactive. Thirty sequential short connections over three equal servers
// go 10/10/10, newest server first, as on the kernel.
func TestKernelInactiveBalance(t *testing.T) {
	for _, sc := range []model.Scheduler{model.SchedLC, model.SchedWLC} {
		tb, s := orderTable(t, orderService(sc, 1, 1, 1))
		got := picks(t, s, 30)
		if want := strings.Repeat("3 2 1 ", 10); got != strings.TrimSpace(want) {
			t.Errorf("%s, 30 short connections: %s, want 3 2 1 repeated", sc, got)
		}
		for _, d := range s.SchedList() {
			if d.InactiveConns() != 10 || d.ActiveConns() != 0 {
				t.Errorf("%s: %s has %d active, %d inactive, want 0 and 10", sc, d.Config().Name, d.ActiveConns(), d.InactiveConns())
			}
		}
		if tb.ConnCount() != 0 {
			t.Errorf("%s: %d open connections after every one closed", sc, tb.ConnCount())
		}
	}
}
