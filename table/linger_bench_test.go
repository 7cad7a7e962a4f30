package table_test

import (
	"net/netip"
	"runtime"
	"testing"

	"github.com/govs/govs/clock"
	"github.com/govs/govs/model"
	"github.com/govs/govs/table"
)

// lingerTable is a table with one four-server service and n closed
// connections lingering in TIME_WAIT.
func lingerTable(b *testing.B, n int) (*table.Table, *clock.Fake) {
	b.Helper()
	c := clock.NewFake(t0)
	svc := model.Service{Name: "web", Active: true, Proto: model.ProtoTCP, VIP: vip, Port: 80,
		Scheduler: model.SchedRR, RealServers: realServers(80, rs1, rs2, rs3)}
	tb := newTable(&testing.T{}, c, svc)
	s := tb.Service(svc.Key())
	p := &table.Packet{Proto: model.ProtoTCP, Dst: netip.AddrPortFrom(vip, 80)}
	for i := range n {
		p.Src = netip.AddrPortFrom(netip.AddrFrom4([4]byte{203, 0, byte(i >> 16), byte(i >> 8)}), uint16(i))
		conn, err := s.Schedule(p)
		if err != nil {
			b.Fatal(err)
		}
		conn.SetState(table.ConnEstablished)
		conn.Close()
	}
	return tb, c
}

func heap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkTimeWaitMemory reports the heap one lingering TIME_WAIT entry
// takes (run with -benchtime 1000000x for the figure at a million).
func BenchmarkTimeWaitMemory(b *testing.B) {
	before := heap()
	tb, _ := lingerTable(b, b.N)
	after := heap()
	if tb.EntryCount() != b.N {
		b.Fatalf("%d entries, want %d", tb.EntryCount(), b.N)
	}
	b.ReportMetric(float64(after-before)/float64(b.N), "B/entry")
	b.ReportMetric(float64(after-before)/float64(b.N)*1e6/(1<<20), "MiB/1M")
	runtime.KeepAlive(tb)
}

// BenchmarkTimeWaitExpire measures expiring lingering entries, per entry:
// the queue hands over exactly the due ones, so the cost does not grow
// with the table.
func BenchmarkTimeWaitExpire(b *testing.B) {
	tb, c := lingerTable(b, b.N)
	c.Advance(table.TimeWaitTimeout)
	b.ResetTimer()
	tb.Expire()
	b.StopTimer()
	if tb.EntryCount() != 0 {
		b.Fatalf("%d entries left", tb.EntryCount())
	}
}
