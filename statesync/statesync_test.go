package statesync

import (
	"context"
	"fmt"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/govs/govs/internal/testutil"
	"github.com/govs/govs/model"
	"github.com/govs/govs/persistence"
	"github.com/govs/govs/table"
)

type rr struct {
	list []*table.Dest
	n    atomic.Uint64
}

func (r *rr) Name() model.Scheduler   { return model.SchedRR }
func (r *rr) Update(ds []*table.Dest) { r.list = ds }
func (r *rr) Schedule(*table.Packet) *table.Dest {
	return r.list[int(r.n.Add(1)-1)%len(r.list)]
}

var vip = netip.MustParseAddr("192.0.2.100")

func newTable(t *testing.T) *table.Table {
	tb := table.New(table.Options{NewScheduler: func(model.Scheduler, model.SchedFlags) (table.Scheduler, error) {
		return &rr{}, nil
	}})
	svc := model.Service{Name: "web", Active: true, Proto: model.ProtoTCP, VIP: vip, Port: 80, Scheduler: model.SchedRR,
		Persistence: model.Persistence{Timeout: 300 * time.Second}}
	for i := range 3 {
		svc.RealServers = append(svc.RealServers, model.RealServer{Name: fmt.Sprint("rs", i),
			Addr: netip.AddrFrom4([4]byte{198, 51, 100, byte(10 + i)}), Weight: 1, Active: true})
	}
	if _, err := tb.Apply(&model.Config{Services: []model.Service{svc}}); err != nil {
		t.Fatal(err)
	}
	return tb
}

func TestEncodeDecode(t *testing.T) {
	var recs []Record
	for i := range 40 {
		recs = append(recs, Record{Service: model.TCPKey(netip.MustParseAddrPort("[2001:db8::1]:443")),
			Client: netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}), Dest: model.DestKey{Addr: netip.MustParseAddr("2001:db8::9"), Port: 8443},
			Timeout: 5 * time.Minute, Left: time.Duration(i) * time.Second})
	}
	recs = append(recs, Record{Service: model.MarkKey(model.IPv6, 80), Client: netip.MustParseAddr("2001:db8::77"),
		Dest: model.DestKey{Addr: netip.MustParseAddr("2001:db8::9")}, Timeout: time.Minute, Left: time.Minute})
	var got []Record
	dgrams := Encode(recs)
	if len(dgrams) != 3 {
		t.Errorf("%d datagrams", len(dgrams))
	}
	for _, b := range dgrams {
		if len(b) > 1400 {
			t.Errorf("datagram of %d bytes", len(b))
		}
		r, err := Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, r...)
	}
	if len(got) != len(recs) {
		t.Fatalf("%d records back", len(got))
	}
	for i := range recs {
		if got[i] != recs[i] {
			t.Fatalf("record %d: %+v, want %+v", i, got[i], recs[i])
		}
	}
	if _, err := Decode(dgrams[0][:100]); err == nil {
		t.Error("truncated datagram decoded")
	}
}

// The active router's templates reach the backup, which then sends the
// client to the same real server; datagrams from anyone else are ignored.
func TestSyncBetweenTables(t *testing.T) {
	active, backup := newTable(t), newTable(t)
	a, b := netip.MustParseAddr("127.0.0.21"), netip.MustParseAddr("127.0.0.22")
	// Both routers bind the one port the protocol uses, which Run binds
	// itself: FreePort, not a listener of the test's.
	port := testutil.FreePort(t, a, b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 2)
	go func() {
		done <- Run(ctx, Options{Table: active, Local: a, Peer: b, Port: port, Active: func() bool { return true }})
	}()
	go func() {
		done <- Run(ctx, Options{Table: backup, Local: b, Peer: a, Port: port, Active: func() bool { return false }})
	}()
	key := model.TCPKey(netip.AddrPortFrom(vip, 80))
	want := map[string]model.DestKey{}
	for i := range 5 {
		src := netip.MustParseAddrPort(fmt.Sprintf("203.0.113.%d:1000", i+1))
		c, err := active.Service(key).Schedule(&table.Packet{Proto: model.ProtoTCP, Src: src, Dst: netip.AddrPortFrom(vip, 80)})
		if err != nil {
			t.Fatal(err)
		}
		want[src.Addr().String()] = c.Dest().Key()
		c.Close()
	}
	testutil.Eventually(t, 5*time.Second, func() error {
		n := 0
		backup.Templates(func(*persistence.Template[*table.Dest]) bool { n++; return true })
		if n != len(want) {
			return fmt.Errorf("backup has %d templates of %d", n, len(want))
		}
		return nil
	})
	// Scheduling on the backup in another order still follows the
	// templates.
	for i := 5; i >= 1; i-- {
		src := netip.MustParseAddrPort(fmt.Sprintf("203.0.113.%d:2000", i))
		c, err := backup.Service(key).Schedule(&table.Packet{Proto: model.ProtoTCP, Src: src, Dst: netip.AddrPortFrom(vip, 80)})
		if err != nil {
			t.Fatal(err)
		}
		if c.Dest().Key() != want[src.Addr().String()] {
			t.Errorf("client %s on the backup went to %v, want %v", src.Addr(), c.Dest().Key(), want[src.Addr().String()])
		}
		c.Close()
	}
	cancel()
	for range 2 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
