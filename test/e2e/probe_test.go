//go:build linux

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"
)

// probe times a failover from the client's side: it starts a fresh
// connection to url every 5 ms, each with its own short timeout, until one
// is answered with a body starting with want, and prints when that answer
// arrived (Unix nanoseconds). Overlapping attempts make the figure as fine
// as the cadence rather than the timeout. It gives up after 30 s.
func probe(url, want string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	found := make(chan int64, 1)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	ready()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case at := <-found:
			cancel()
			fmt.Println(at)
			return 0
		case <-ctx.Done():
			fmt.Fprintln(os.Stderr, "probe: no answer from", want, "within 30s")
			return 1
		case <-tick.C:
		}
		wg.Go(func() {
			actx, acancel := context.WithTimeout(ctx, 300*time.Millisecond)
			defer acancel()
			body, err := fetch(actx, url, nil)
			if err == nil && strings.HasPrefix(body, want) {
				select {
				case found <- time.Now().UnixNano():
				default:
				}
			}
		})
	}
}

// fetch GETs url over a fresh connection, from local if set.
func fetch(ctx context.Context, url string, local net.Addr) (string, error) {
	d := &net.Dialer{LocalAddr: local, Control: func(_, _ string, c syscall.RawConn) error {
		// Clients take addresses from a range routed to the namespace's
		// loopback; binding to them needs no address configured.
		var serr error
		err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_IP, syscall.IP_FREEBIND, 1) })
		if err != nil {
			return err
		}
		return serr
	}}
	tr := &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// clients plays many clients, one source address each: it reads source
// addresses from standard input, fetches GOVS_E2E_TARGET once from each
// (GOVS_E2E_PARALLEL at a time) and prints "SOURCE ANSWER" per line, or
// "SOURCE -" for a failure. With GOVS_E2E_LOOP set it goes round the list
// until standard input's second part (a line "stop") arrives, and prints
// only the count of answers and failures: load, not a record.
func clients() int {
	target := os.Getenv("GOVS_E2E_TARGET")
	in := bufio.NewScanner(os.Stdin)
	var srcs []string
	for in.Scan() && in.Text() != "" {
		srcs = append(srcs, in.Text())
	}
	par := 32
	if _, err := fmt.Sscan(os.Getenv("GOVS_E2E_PARALLEL"), &par); err != nil || par < 1 {
		par = 32
	}
	one := func(src string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		body, err := fetch(ctx, target, &net.TCPAddr{IP: net.ParseIP(src)})
		f := strings.Fields(body)
		if err != nil || len(f) == 0 {
			return "-"
		}
		return f[0]
	}
	if os.Getenv("GOVS_E2E_LOOP") != "" {
		stop := make(chan struct{})
		go func() {
			for in.Scan() {
				if in.Text() == "stop" {
					break
				}
			}
			close(stop)
		}()
		var mu sync.Mutex
		ok, failed := 0, 0
		var wg sync.WaitGroup
		for w := range par {
			wg.Go(func() {
				for i := w; ; i = (i + par) % len(srcs) {
					select {
					case <-stop:
						return
					default:
					}
					r := one(srcs[i])
					mu.Lock()
					if r == "-" {
						failed++
					} else {
						ok++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		fmt.Println(ok, failed)
		return 0
	}
	out := make([]string, len(srcs))
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	for i, s := range srcs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			out[i] = one(s)
		})
	}
	wg.Wait()
	for i, s := range srcs {
		fmt.Println(s, out[i])
	}
	return 0
}
