package table_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/govs/govs/clock"
	"github.com/govs/govs/model"
	"github.com/govs/govs/table"
)

// Closed connections linger and leave in the order they closed, across
// the queue's blocks, each after its state's timeout; `govs list -c` shows
// them as ipvsadm -c does, with state and the seconds left.
func TestLingeringEntries(t *testing.T) {
	c := clock.NewFake(t0)
	svc := model.Service{Name: "web", Active: true, Proto: model.ProtoTCP, VIP: vip, Port: 80,
		Scheduler: model.SchedRR, RealServers: realServers(80, rs1)}
	tb := newTable(t, c, svc)
	s := tb.Service(svc.Key())
	d := s.Dests()[0]
	const n = 10000 // more than two blocks of the queue
	for i := range n {
		p := &table.Packet{Proto: model.ProtoTCP, Dst: netip.AddrPortFrom(vip, 80),
			Src: netip.AddrPortFrom(netip.AddrFrom4([4]byte{203, 0, 113, byte(i % 250)}), uint16(1024+i))}
		conn := mustSchedule(t, s, p)
		if i%2 == 0 {
			conn.SetState(table.ConnEstablished)
		}
		conn.Close() // odd ones never established: CLOSE
		if i == n/2-1 {
			c.Advance(30 * time.Second)
		}
	}
	if d.InactiveConns() != n || tb.EntryCount() != n || tb.ConnCount() != 0 {
		t.Fatalf("%d inactive, %d entries, %d open; want %d, %d, 0", d.InactiveConns(), tb.EntryCount(), tb.ConnCount(), n, n)
	}
	states := map[string]int{}
	for _, cs := range tb.ConnSnapshot() {
		if !cs.Template {
			states[cs.State]++
			if cs.State == "TIME_WAIT" && cs.Expires != 120 && cs.Expires != 90 {
				t.Fatalf("TIME_WAIT entry expires in %d s", cs.Expires)
			}
		}
	}
	if states["TIME_WAIT"] != n/2 || states["CLOSE"] != n/2 {
		t.Fatalf("listed states %v", states)
	}
	// The first half closed at 0 s, the second at 30 s. At 35 s the first
	// half's CLOSE entries (10 s) have gone, at 40 s the second half's.
	c.Advance(5 * time.Second)
	tb.Expire()
	if got, want := d.InactiveConns(), n-n/4; got != want {
		t.Fatalf("after 35 s: %d inactive, want %d", got, want)
	}
	c.Advance(5 * time.Second)
	tb.Expire()
	if got, want := d.InactiveConns(), n/2; got != want {
		t.Fatalf("after 40 s: %d inactive, want %d", got, want)
	}
	// At 120 s the first half's TIME_WAIT entries leave, at 150 s the rest.
	c.Advance(80 * time.Second)
	tb.Expire()
	if got, want := d.InactiveConns(), n/4; got != want {
		t.Fatalf("after 120 s: %d inactive, want %d", got, want)
	}
	c.Advance(30 * time.Second)
	tb.Expire()
	if d.InactiveConns() != 0 || tb.EntryCount() != 0 {
		t.Fatalf("after 150 s: %d inactive, %d entries", d.InactiveConns(), tb.EntryCount())
	}
}

// A template is NONE until a connection it controls is established, then
// ASSURED, as the kernel lists it (ip_vs_control_assure_ct).
func TestTemplateAssured(t *testing.T) {
	c := clock.NewFake(t0)
	tb := newTable(t, c, markService(300*time.Second, 0))
	s := tb.Service(mark)
	conn := mustSchedule(t, s, pkt("203.0.113.5:1", 80))
	state := func() string {
		for _, cs := range tb.ConnSnapshot() {
			if cs.Template {
				return cs.State
			}
		}
		return "no template"
	}
	if got := state(); got != "NONE" {
		t.Errorf("before the connection is established: %s, want NONE", got)
	}
	conn.SetState(table.ConnEstablished)
	if got := state(); got != "ASSURED" {
		t.Errorf("after: %s, want ASSURED", got)
	}
}
