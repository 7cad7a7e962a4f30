//go:build linux

package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const soakCfg = `serial_no = %d
primary = 127.0.0.1
service = lvs
http_listen = 127.0.0.1:%d
http_users = users
udp_timeout = 5

virtual web {
    active = 1
    address = 127.82.0.100 lo
    port = 18080
    scheduler = wlc
    timeout = 1
    server web1 {
        address = 127.82.0.11
        port = 18080
        active = 1
        weight = %d
    }
    server web2 {
        address = 127.82.0.12
        port = 18080
        active = 1
        weight = 1
    }
}

virtual dns {
    active = 1
    address = 127.82.0.100 lo
    port = 15353
    protocol = udp
    scheduler = rr
    timeout = 1
    send = "ping"
    expect = "dns"
    server dns1 {
        address = 127.82.0.21
        port = 15353
        active = 1
    }
    server dns2 {
        address = 127.82.0.22
        port = 15353
        active = 1
    }
}
`

// TestSoak runs the router under mixed TCP and UDP load while it is
// reloaded every few seconds, a real server is drained and put back by
// the operator, and the web tool is read; it samples the router's RSS and
// descriptors and reports them. It fails on any failed request, and on
// descriptors or memory that keep growing. GOVS_SOAK sets how long (the
// default, 20s, is the short form CI runs; bench/soak.sh runs 30m).
func TestSoak(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("soak: needs Linux, where all of 127.0.0.0/8 is local")
	}
	dur := 20 * time.Second
	if v := os.Getenv("GOVS_SOAK"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("GOVS_SOAK: %v", err)
		}
		dur = d
	}
	backends(t, map[string]string{"web1": "127.82.0.11:18080", "web2": "127.82.0.12:18080"},
		map[string]string{"dns1": "127.82.0.21:15353", "dns2": "127.82.0.22:15353"})
	webPort := freeLoopbackPort(t)
	dir := t.TempDir()
	token := passwd(t, filepath.Join(dir, "users"), "viewer-pass-1", "-u", "viewer", "--role", "readonly", "--token")
	cfgPath := filepath.Join(dir, "lvs.cf")
	serial := 1
	writeFile(t, cfgPath, fmt.Sprintf(soakCfg, serial, webPort, 1))
	r := startRouter(t, nil, cfgPath)
	pid := r.cmd.Process.Pid

	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	var tcpOK, tcpFail, udpOK, udpFail, webOK, webFail, reloads, flaps atomic.Int64
	var firstErr atomic.Value
	fail := func(n *atomic.Int64, err error) {
		n.Add(1)
		firstErr.CompareAndSwap(nil, err.Error())
	}
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			src := fmt.Sprintf("127.82.5.%d", i+1)
			for ctx.Err() == nil {
				body, err := get(context.Background(), "http://127.82.0.100:18080/", src)
				switch {
				case err != nil:
					fail(&tcpFail, err)
				case !strings.HasPrefix(body, "web"):
					fail(&tcpFail, fmt.Errorf("answer %q", body))
				default:
					tcpOK.Add(1)
				}
			}
		}()
	}
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 256)
			vip := &net.UDPAddr{IP: net.IPv4(127, 82, 0, 100), Port: 15353}
			for ctx.Err() == nil {
				// A new flow every ten datagrams.
				c, err := net.DialUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 82, 6, byte(i+1))}, vip)
				if err != nil {
					fail(&udpFail, err)
					continue
				}
				for range 10 {
					_ = c.SetDeadline(time.Now().Add(2 * time.Second))
					_, err := c.Write([]byte("q"))
					var n int
					if err == nil {
						n, err = c.Read(buf)
					}
					if err != nil || !strings.HasPrefix(string(buf[:n]), "dns") {
						fail(&udpFail, fmt.Errorf("udp: %v %q", err, buf[:n]))
						continue
					}
					udpOK.Add(1)
				}
				c.Close()
			}
		}()
	}
	// The web tool, read as a dashboard would.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			for _, path := range []string{"/metrics", "/login", "/api/v1/table", "/api/v1/status"} {
				req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d%s", webPort, path), nil)
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := http.DefaultClient.Do(req)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("GET %s: %s", path, resp.Status)
					}
				}
				if err != nil {
					fail(&webFail, err)
				} else {
					webOK.Add(1)
				}
			}
			time.Sleep(500 * time.Millisecond)
		}
	}()
	// Reloads every 3 s, alternating web1's weight; the operator takes
	// web2 out and puts it back every 5 s.
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for n := 1; ; n++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if n%3 == 0 {
				serial++
				writeFile(t, cfgPath, fmt.Sprintf(soakCfg, serial, webPort, 1+serial%3))
				if _, errOut, code := govs(t, "reload", "--socket", r.socket); code != 0 {
					fail(&tcpFail, fmt.Errorf("reload: %s", errOut))
				}
				reloads.Add(1)
			}
			if n%5 == 0 {
				// Drain and clear: the operator's graceful way, under which
				// no request may fail. (disable takes the server out as
				// ipvsadm -d does: its open connections stall until it is
				// back, and an HTTP server times them out meanwhile.)
				action := "drain"
				if n%10 == 0 {
					action = "clear"
				}
				if _, errOut, code := govs(t, "realserver", action, "127.82.0.12:18080", "--socket", r.socket); code != 0 {
					fail(&tcpFail, fmt.Errorf("realserver %s: %s", action, errOut))
				}
				flaps.Add(1)
			}
		}
	}()
	type sample struct {
		at       time.Duration
		rssKiB   int
		fds      int
		tcp, udp int64
	}
	var samples []sample
	start := time.Now()
	every := max(dur/10, 2*time.Second)
	tick := time.NewTicker(every)
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-tick.C:
			samples = append(samples, sample{time.Since(start).Round(time.Second), rss(pid), fds(pid), tcpOK.Load(), udpOK.Load()})
		}
	}
	tick.Stop()
	wg.Wait()
	// Once the load stops, what it held is given back: connections at
	// once, UDP flows after udp_timeout.
	time.Sleep(7 * time.Second)
	end := sample{time.Since(start).Round(time.Second), rss(pid), fds(pid), tcpOK.Load(), udpOK.Load()}
	var report strings.Builder
	fmt.Fprintf(&report, "%8s %10s %6s %10s %10s\n", "time", "RSS KiB", "fds", "tcp ok", "udp ok")
	for _, s := range append(samples, end) {
		fmt.Fprintf(&report, "%8s %10d %6d %10d %10d\n", s.at, s.rssKiB, s.fds, s.tcp, s.udp)
	}
	t.Logf("soak %s: tcp %d ok %d failed, udp %d ok %d failed, web %d ok %d failed, %d reloads, %d operator changes\n%s",
		dur, tcpOK.Load(), tcpFail.Load(), udpOK.Load(), udpFail.Load(), webOK.Load(), webFail.Load(),
		reloads.Load(), flaps.Load(), report.String())
	if n := tcpFail.Load() + udpFail.Load() + webFail.Load(); n > 0 {
		t.Errorf("%d failures; the first: %v", n, firstErr.Load())
	}
	if tcpOK.Load() == 0 || udpOK.Load() == 0 || reloads.Load() == 0 {
		t.Errorf("the soak did not run: tcp %d udp %d reloads %d", tcpOK.Load(), udpOK.Load(), reloads.Load())
	}
	if len(samples) >= 2 {
		base := samples[0]
		// Every flow has expired by now: descriptors beyond the first
		// sample's are a leak.
		if end.fds > base.fds+64 {
			t.Errorf("descriptors grew from %d to %d", base.fds, end.fds)
		}
		// Memory warms up and then moves with the garbage collector: it
		// must not end far above the first half's highest.
		warm := 0
		for _, s := range samples[:(len(samples)+1)/2] {
			warm = max(warm, s.rssKiB)
		}
		if end.rssKiB > 2*warm+32<<10 {
			t.Errorf("RSS grew from at most %d KiB in the first half to %d KiB", warm, end.rssKiB)
		}
	}
}

func rss(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	return -1
}

func fds(pid int) int {
	es, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return -1
	}
	return len(es)
}
