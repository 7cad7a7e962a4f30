package proxy

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/govs/govs/internal/testutil"
	"github.com/govs/govs/model"
)

// Many concurrent connections, small and bulk, both ways, through either
// copy path: every byte arrives, in order, on the connection it was sent on,
// and every connection is released afterwards.
func TestManyConnections(t *testing.T) {
	vip := ip("127.0.22.1")
	eachCopyMode(t, "m", vip, ip("127.0.22.11"), func(t *testing.T, e *env, port uint16) {
		const conns = 64
		sizes := []int{1, 100, 1500, 70000, 300000, 1 << 20}
		var wg sync.WaitGroup
		errs := make(chan error, conns)
		for i := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				size := sizes[i%len(sizes)]
				if err := echoCheck(vip, port, size, uint64(i)); err != nil {
					errs <- fmt.Errorf("connection %d (%d bytes): %w", i, size, err)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		testutil.WaitFor(t, 5*time.Second, "connections released", func() bool { return e.tbl.ConnCount() == 0 })
	})
}

// echoCheck sends size random bytes through the echo server and checks
// that the same bytes come back.
func echoCheck(vip netip.Addr, port uint16, size int, seed uint64) error {
	c, err := dialFrom(ip("127.0.0.1"), ap(vip, port))
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := c.line(); err != nil {
		return fmt.Errorf("greeting: %w", err)
	}
	// The echo server works by lines: send lines of random letters.
	r := rand.New(rand.NewPCG(seed, 1))
	payload := make([]byte, size)
	for i := range payload {
		if i%80 == 79 || i == size-1 {
			payload[i] = '\n'
		} else {
			payload[i] = byte('a' + r.IntN(26))
		}
	}
	sent := make(chan error, 1)
	go func() {
		_, err := c.Write(payload)
		sent <- err
	}()
	got := make([]byte, size)
	if _, err := io.ReadFull(c.r, got); err != nil {
		return fmt.Errorf("echo: %w", err)
	}
	if err := <-sent; err != nil {
		return fmt.Errorf("send: %w", err)
	}
	if sha256.Sum256(got) != sha256.Sum256(payload) {
		i := 0
		for i < size && got[i] == payload[i] {
			i++
		}
		return fmt.Errorf("echo differs from byte %d", i)
	}
	return nil
}

// A client that reads slowly makes the proxy meet a full socket again and
// again: what it could not write waits, in order, and nothing is lost.
func TestSlowReader(t *testing.T) {
	vip := ip("127.0.22.2")
	eachCopyMode(t, "s", vip, ip("127.0.22.12"), func(t *testing.T, _ *env, port uint16) {
		c, _, _ := hello(t, ip("127.0.0.1"), ap(vip, port))
		defer c.Close()
		c.SetDeadline(time.Now().Add(20 * time.Second))
		const size = 8 << 20
		if _, err := fmt.Fprintf(c, "pattern %d\n", size); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, 0, size)
		buf := make([]byte, 16<<10)
		for len(got) < size {
			n, err := c.r.Read(buf[:min(len(buf), size-len(got))])
			got = append(got, buf[:n]...)
			if err != nil {
				t.Fatalf("after %d of %d bytes: %v", len(got), size, err)
			}
			time.Sleep(time.Millisecond)
		}
		want := pattern(size)
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("byte %d differs", i)
			}
		}
	})
}

// A connection no real server takes is reset, as is one whose real server
// refuses it; neither leaves a table entry behind.
func TestRefusedIsReset(t *testing.T) {
	e := newEnv(t, Options{})
	vip, rip := ip("127.0.23.1"), ip("127.0.23.11")
	port, dead := testutil.FreePort(t, vip, rip), testutil.FreePort(t, rip)
	empty := model.Service{Name: "empty", Active: true, Proto: model.ProtoTCP, VIP: vip, Port: port, Scheduler: model.SchedRR}
	refusing := model.Service{Name: "refusing", Active: true, Proto: model.ProtoTCP, VIP: vip, Port: dead, Scheduler: model.SchedRR,
		RealServers: []model.RealServer{rs(rip, dead, 1)}}
	e.mustApply(&model.Config{Services: []model.Service{empty, refusing}})
	for _, p := range []uint16{port, dead} {
		c, err := net.DialTimeout("tcp", ap(vip, p).String(), 2*time.Second)
		if errors.Is(err, syscall.ECONNRESET) {
			continue // the reset came before the dialer looked
		}
		if err != nil {
			t.Fatalf("port %d: the listener refused the connect itself: %v", p, err)
		}
		c.SetDeadline(time.Now().Add(3 * time.Second))
		n, err := c.Read(make([]byte, 1))
		c.Close()
		if !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("port %d: read %d bytes, error %v; want a reset", p, n, err)
		}
	}
	testutil.WaitFor(t, 2*time.Second, "no table entries", func() bool { return e.tbl.ConnCount() == 0 })
}
