package proxy

import (
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/govs/govs/internal/testutil"
	"github.com/govs/govs/model"
)

// On the event loops a UDP flow costs its socket and no goroutine: 500
// flows leave the goroutine count about where it was, every flow gets its
// replies, and all of them expire after udp_timeout, their sockets given
// back to the budget.
func TestUDPFlowsNoGoroutines(t *testing.T) {
	const flows = 500
	e := newEnv(t, Options{Sockets: 4 * flows})
	vip, rip := ip("127.0.31.1"), ip("127.0.31.11")
	vport, rport := testutil.FreePort(t, vip), startUDP(t, "rs1", ap(rip, 0))
	e.mustApply(&model.Config{Global: model.Global{UDPTimeout: 2 * time.Second}, Services: []model.Service{{
		Name: "dns", Active: true, Proto: model.ProtoUDP, VIP: vip, Port: vport, Scheduler: model.SchedRR,
		RealServers: []model.RealServer{rs(rip, rport, 1)}}}})

	// Settle the listener and its first flow, so that only flows count.
	warm := newUDPClient(t, ip("127.1.31.250"), ap(vip, vport))
	warm.ask("warm")
	before := runtime.NumGoroutine()
	clients := make([]*udpClient, flows)
	for i := range clients {
		src := netip.AddrFrom4([4]byte{127, 2, byte(31 + i/200), byte(1 + i%200)})
		clients[i] = newUDPClient(t, src, ap(vip, vport))
		clients[i].ask(fmt.Sprint("hello ", i))
	}
	for i, c := range clients {
		c.ask(fmt.Sprint("again ", i))
	}
	grown := runtime.NumGoroutine() - before
	if n := e.pl.Sockets().UDP; n < flows {
		t.Fatalf("%d UDP sockets held for %d flows", n, flows)
	}
	t.Logf("%d flows: goroutines %d -> %d", flows, before, before+grown)
	if len(e.pl.loops) > 0 && grown > flows/20 {
		t.Fatalf("%d flows added %d goroutines on the event loops", flows, grown)
	}

	testutil.WaitFor(t, 10*time.Second, "the flows to expire", func() bool { return e.pl.Sockets().UDP == 0 })
	if n := e.tbl.ConnCount(); n != 0 {
		t.Fatalf("%d connection entries after the flows expired", n)
	}
	if len(e.pl.loops) > 0 {
		if g := runtime.NumGoroutine(); g > before {
			t.Fatalf("%d goroutines after the flows expired, %d before", g, before)
		}
	}
}

// BenchmarkUDPFlows measures datagram round trips through the proxy (and
// directly, to compare): over one flow, and spread over many flows.
func BenchmarkUDPFlows(b *testing.B) {
	e := newEnv(b, Options{})
	vip, rip := ip("127.0.32.1"), ip("127.0.32.11")
	vport, rport := testutil.FreePort(b, vip), startUDP(b, "rs1", ap(rip, 0))
	e.mustApply(&model.Config{Services: []model.Service{{Name: "bench", Active: true, Proto: model.ProtoUDP, VIP: vip,
		Port: vport, Scheduler: model.SchedRR, RealServers: []model.RealServer{rs(rip, rport, 1)}}}})
	for _, tc := range []struct {
		name  string
		to    netip.AddrPort
		flows int
	}{{"direct", ap(rip, rport), 1}, {"proxy", ap(vip, vport), 1}, {"proxy-100flows", ap(vip, vport), 100}} {
		b.Run(tc.name, func(b *testing.B) {
			cs := make([]*net.UDPConn, tc.flows)
			for i := range cs {
				c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(ap(ip("127.1.32.1"), 0)))
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				cs[i] = c
			}
			msg, buf := []byte("ping"), make([]byte, 2048)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				c := cs[i%len(cs)]
				i++
				for {
					if _, err := c.WriteToUDPAddrPort(msg, tc.to); err != nil {
						b.Fatal(err)
					}
					c.SetReadDeadline(time.Now().Add(time.Second))
					if _, _, err := c.ReadFromUDPAddrPort(buf); err == nil {
						break
					}
				}
			}
		})
	}
}
