package table_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/govs/govs/clock"
	"github.com/govs/govs/model"
)

// A template installed from the peer router decides where the client goes,
// replaces the one the table had, and keeps the persistence counts right.
func TestInstallTemplate(t *testing.T) {
	c := clock.NewFake(t0)
	tb := newTable(t, c, markService(300*time.Second, 0))
	s := tb.Service(mark)
	first := mustSchedule(t, s, pkt("203.0.113.5:1", 80))
	first.Close()
	other := model.DestKey{Addr: rs3}
	if first.Dest().Key() == other {
		other = model.DestKey{Addr: rs2}
	}
	client := netip.MustParseAddr("203.0.113.5")
	if err := tb.InstallTemplate(mark, client, other, 300*time.Second, t0.Add(200*time.Second)); err != nil {
		t.Fatal(err)
	}
	if first.Dest().PersistConns() != 0 || s.Dest(other).PersistConns() != 1 {
		t.Fatalf("persist counts: old %d, new %d", first.Dest().PersistConns(), s.Dest(other).PersistConns())
	}
	for i := range 3 {
		cn := mustSchedule(t, s, pkt("203.0.113.5:2", uint16(80+i%2*363)))
		if cn.Dest().Key() != other {
			t.Fatalf("client went to %v, want the installed %v", cn.Dest().Key(), other)
		}
		cn.Close()
	}
	// Connections through it refreshed it as any template: it expires a
	// timeout after the last one closed.
	c.Advance(299 * time.Second)
	tb.Tick()
	if n := s.Dest(other).PersistConns(); n != 1 {
		t.Fatalf("installed template expired early: %d", n)
	}
	c.Advance(2 * time.Second)
	tb.Tick()
	if n := s.Dest(other).PersistConns(); n != 0 {
		t.Fatalf("installed template outlived its timeout: %d", n)
	}
	// One never used expires when the peer said.
	if err := tb.InstallTemplate(mark, client, other, 300*time.Second, c.Now().Add(10*time.Second)); err != nil {
		t.Fatal(err)
	}
	c.Advance(11 * time.Second)
	tb.Tick()
	if n := s.Dest(other).PersistConns(); n != 0 {
		t.Fatalf("installed template outlived the peer's expiry: %d", n)
	}
	for _, bad := range []struct {
		svc  model.ServiceKey
		dest model.DestKey
	}{{model.MarkKey(model.IPv4, 81), other}, {mark, model.DestKey{Addr: netip.MustParseAddr("198.51.100.99")}}} {
		if err := tb.InstallTemplate(bad.svc, client, bad.dest, time.Minute, t0); err == nil {
			t.Errorf("installed for %v → %v", bad.svc, bad.dest)
		}
	}
}
