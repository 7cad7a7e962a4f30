package proxy

import (
	"fmt"
	"io"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/govs/govs/internal/testutil"
	"github.com/govs/govs/model"
)

// benchTargets starts a real server and a proxied service in front of it,
// and returns both addresses so each benchmark compares proxy and direct.
func benchTargets(b *testing.B) []struct {
	name string
	addr netip.AddrPort
} {
	e := newEnv(b, Options{NoSplice: os.Getenv("NOSPLICE") != ""})
	vip, rip := ip("127.0.26.1"), ip("127.0.26.11")
	port := testutil.FreePort(b, vip, rip)
	startTCP(b, "rs1", rip, port)
	e.mustApply(&model.Config{Services: []model.Service{{Name: "bench", Active: true, Proto: model.ProtoTCP, VIP: vip,
		Port: port, Scheduler: model.SchedRR, RealServers: []model.RealServer{rs(rip, port, 1)}}}})
	return []struct {
		name string
		addr netip.AddrPort
	}{{"direct", ap(rip, port)}, {"proxy", ap(vip, port)}}
}

// BenchmarkConnect measures new connections: connect, read the greeting,
// close.
func BenchmarkConnect(b *testing.B) {
	for _, tg := range benchTargets(b) {
		b.Run(tg.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c, err := dialFrom(netip.Addr{}, tg.addr)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := c.line(); err != nil {
					b.Fatal(err)
				}
				c.SetLinger(0) // no TIME_WAIT pile-up on the client side
				c.Close()
			}
		})
	}
}

// BenchmarkThroughput measures a bulk download over one connection.
func BenchmarkThroughput(b *testing.B) {
	const chunk = 64 << 20
	for _, tg := range benchTargets(b) {
		b.Run(tg.name, func(b *testing.B) {
			c, err := dialFrom(netip.Addr{}, tg.addr)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Time{})
			if _, err := c.line(); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(chunk)
			for b.Loop() {
				if _, err := fmt.Fprintf(c, "send %d\n", chunk); err != nil {
					b.Fatal(err)
				}
				if _, err := io.CopyN(io.Discard, c.r, chunk); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
