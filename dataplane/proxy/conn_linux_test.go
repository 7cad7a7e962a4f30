package proxy

import (
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/govs/govs/internal/testutil"
	"github.com/govs/govs/model"
)

// A real server that does not answer the connect (its accept queue is full,
// so the kernel drops the SYN) is given up after DialTimeout, and the client
// is reset.
func TestDialTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	e := newEnv(t, Options{DialTimeout: timeout})
	vip, rip := ip("127.0.24.1"), ip("127.0.24.11")
	port := testutil.FreePort(t, vip, rip)

	// A listener with a backlog of 0 holds one connection it never
	// accepts; fill it.
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Port: int(port), Addr: rip.As4()}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if c, err := net.DialTimeout("tcp", ap(rip, port).String(), 200*time.Millisecond); err == nil {
			defer c.Close()
		}
	}
	if c, err := net.DialTimeout("tcp", ap(rip, port).String(), 200*time.Millisecond); err == nil {
		c.Close()
		t.Skip("this kernel does not drop SYNs to a full accept queue")
	}

	svc := model.Service{Name: "d", Active: true, Proto: model.ProtoTCP, VIP: vip, Port: port, Scheduler: model.SchedRR,
		RealServers: []model.RealServer{rs(rip, port, 1)}}
	e.mustApply(&model.Config{Services: []model.Service{svc}})
	start := time.Now()
	c, err := net.DialTimeout("tcp", ap(vip, port).String(), 2*time.Second)
	if err != nil {
		t.Fatalf("the listener refused the connect itself: %v", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	_, err = c.Read(make([]byte, 1))
	took := time.Since(start)
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read error %v after %v, want a reset", err, took)
	}
	if took < timeout {
		t.Fatalf("reset after %v, before the dial timeout %v", took, timeout)
	}
	testutil.WaitFor(t, 2*time.Second, "no table entries", func() bool { return e.tbl.ConnCount() == 0 })
}

// A bulk direction borrows a pipe to splice through and gives it back once
// drained, so idle connections hold none.
func TestPipesReturned(t *testing.T) {
	e := newEnv(t, Options{})
	if len(e.pl.loops) == 0 {
		t.Skip("TCP is served by goroutines (GOVS_PROXY_GOROUTINES=1)")
	}
	vip := ip("127.0.24.2")
	svc, _ := e.single(t, model.Global{}, "p", vip, ip("127.0.24.12"))
	port := svc.Port
	const conns, size = 8, 4 << 20
	for range conns {
		c, _, _ := hello(t, ip("127.0.0.1"), ap(vip, port))
		defer c.Close()
		if _, err := fmt.Fprintf(c, "send %d\n", size); err != nil {
			t.Fatal(err)
		}
		if _, err := io.CopyN(io.Discard, c.r, size); err != nil {
			t.Fatalf("bulk reply: %v", err)
		}
	}
	held, open, spliced := 0, 0, 0
	count := func() {
		held, open = 0, 0
		for _, lp := range e.pl.loops {
			lp.call(func() {
				for c := lp.head; c != nil; c = c.next {
					open++
					for i := range c.dir {
						if c.dir[i].pipe != nil {
							held++
						}
						if c.dir[i].bulk {
							spliced++
						}
					}
				}
			})
		}
	}
	testutil.WaitFor(t, 5*time.Second, "bulk transfers drained", func() bool {
		spliced = 0
		count()
		return held == 0
	})
	if open != conns {
		t.Fatalf("%d connections open in the loops, want %d", open, conns)
	}
	if spliced == 0 {
		t.Fatal("no direction went to splice: the test moved too little")
	}
}
