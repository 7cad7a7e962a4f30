package proxy

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/govs/govs/internal/testutil"
	"github.com/govs/govs/model"
)

// udpClient sends from a socket bound to src and checks that replies come
// from the VIP.
type udpClient struct {
	t   *testing.T
	c   *net.UDPConn
	vip netip.AddrPort
}

func newUDPClient(t *testing.T, src netip.Addr, vip netip.AddrPort) *udpClient {
	t.Helper()
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(ap(src, 0)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &udpClient{t: t, c: c, vip: vip}
}

// ask sends msg and returns the name of the real server that answered.
func (u *udpClient) ask(msg string) string {
	u.t.Helper()
	if _, err := u.c.WriteToUDPAddrPort([]byte(msg), u.vip); err != nil {
		u.t.Fatal(err)
	}
	u.c.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 2048)
	n, from, err := u.c.ReadFromUDPAddrPort(buf)
	if err != nil {
		u.t.Fatalf("no reply to %q: %v", msg, err)
	}
	if got := netip.AddrPortFrom(from.Addr().Unmap(), from.Port()); got != u.vip {
		u.t.Fatalf("reply from %s, want the VIP %s", got, u.vip)
	}
	name, payload, _ := strings.Cut(string(buf[:n]), "|")
	if payload != msg {
		u.t.Fatalf("reply %q to %q", buf[:n], msg)
	}
	return name
}

func TestUDP(t *testing.T) {
	for _, fam := range []struct {
		name             string
		vip, r1, r2, src netip.Addr
		src2             netip.Addr
	}{
		{"ipv4", ip("127.0.17.1"), ip("127.0.17.11"), ip("127.0.17.12"), ip("127.1.17.1"), ip("127.1.17.2")},
		{"ipv6", ip("::1"), ip("::1"), ip("::1"), ip("::1"), ip("::1")},
	} {
		t.Run(fam.name, func(t *testing.T) {
			e := newEnv(t, Options{})
			vport, opsPort := testutil.FreePort(t, fam.vip), testutil.FreePort(t, fam.vip)
			p1, p2 := startUDP(t, "rs1", ap(fam.r1, 0)), startUDP(t, "rs2", ap(fam.r2, 0))
			servers := []model.RealServer{rs(fam.r1, p1, 1), rs(fam.r2, p2, 1)}
			flows := model.Service{Name: "dns", Active: true, Proto: model.ProtoUDP, VIP: fam.vip, Port: vport,
				Scheduler: model.SchedRR, RealServers: servers}
			ops := flows
			ops.Name, ops.Port, ops.OnePacket = "syslog", opsPort, true
			cfg := &model.Config{Global: model.Global{UDPTimeout: 300 * time.Millisecond},
				Services: []model.Service{flows, ops}}
			e.mustApply(cfg)

			// A flow sticks to its real server; another client's flow is
			// scheduled apart.
			a := newUDPClient(t, fam.src, ap(fam.vip, vport))
			b := newUDPClient(t, fam.src2, ap(fam.vip, vport))
			na := a.ask("a0")
			nb := b.ask("b0")
			if na == nb {
				t.Fatalf("two flows both went to %s with rr", na)
			}
			for i := 1; i < 5; i++ {
				if got := a.ask(fmt.Sprint("a", i)); got != na {
					t.Fatalf("flow of a moved from %s to %s", na, got)
				}
			}
			if n := e.tbl.ConnCount(); n != 2 {
				t.Fatalf("%d connection entries for two flows", n)
			}
			d := e.svc(flows.Key()).Dests()
			// The relay accounts a datagram just after passing it on, so the
			// reply can reach the client a moment before the count moves.
			var in, out uint64
			counted := func() bool {
				in = d[0].Counters.InPkts.Load() + d[1].Counters.InPkts.Load()
				out = d[0].Counters.OutPkts.Load() + d[1].Counters.OutPkts.Load()
				return in >= 6 && out >= 6
			}
			testutil.WaitFor(t, 2*time.Second, "six datagrams each way to be counted", counted)
			if in != 6 || out != 6 {
				t.Fatalf("packets in %d out %d, want 6 each", in, out)
			}

			// One-packet scheduling spreads one client's datagrams.
			c := newUDPClient(t, fam.src, ap(fam.vip, opsPort))
			got := map[string]int{}
			for i := range 6 {
				got[c.ask(fmt.Sprint("o", i))]++
			}
			if got["rs1"] != 3 || got["rs2"] != 3 {
				t.Fatalf("one-packet datagrams went %v, want 3 each", got)
			}
			if n := e.tbl.ConnCount(); n != 2 {
				t.Fatalf("one-packet scheduling made connection entries: %d", n)
			}

			// Idle flows expire after udp_timeout.
			testutil.WaitFor(t, 3*time.Second, "flows to expire", func() bool { return e.tbl.ConnCount() == 0 })
			for _, x := range d {
				if x.InactiveConns() != 0 || x.ActiveConns() != 0 {
					t.Fatalf("%s still counts connections", x.Key())
				}
			}
			// And a new datagram makes a new flow.
			if got := a.ask("again"); got == "" {
				t.Fatal("no reply after expiry")
			}
		})
	}
}
