//go:build linux

package e2e

import (
	"context"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/govs/govs/internal/testutil"
)

const healthCfg = `primary = 127.0.0.1
service = lvs

virtual api {
    active = 1
    address = 127.79.0.100 lo
    port = 19000
    scheduler = rr
    timeout = 1
    reentry = 2
    sorry_server = 127.79.0.30:19000
    server api1 {
        address = 127.79.0.21
        port = 19000
        active = 1
    }
    server api2 {
        address = 127.79.0.22
        port = 19000
        active = 1
    }
}
`

// backend is a real server that can be stopped and started again.
type backend struct {
	t    *testing.T
	name string
	addr string
	srv  *http.Server
}

func (b *backend) start() {
	b.t.Helper()
	ln := testutil.Listen(b.t, "tcp", b.addr) // waits for the port to be free again after a stop
	b.srv = &http.Server{Handler: handler(b.name)}
	go func() { _ = b.srv.Serve(ln) }()
}

func (b *backend) stop() { _ = b.srv.Close() }

// stateOf returns the state in the State column of a real server in govs
// list (the column may go on with the reason: "down (connect refused)").
func stateOf(t *testing.T, socket, server string) string {
	out, _, code := govs(t, "list", "--socket", socket)
	if code != 0 {
		return ""
	}
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 6 && f[0] == "->" && f[1] == server {
			return f[6]
		}
	}
	return "absent"
}

func TestLoopbackHealth(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("loopback test: needs Linux, where all of 127.0.0.0/8 is local")
	}
	api1 := &backend{t: t, name: "api1", addr: "127.79.0.21:19000"}
	api2 := &backend{t: t, name: "api2", addr: "127.79.0.22:19000"}
	sorry := &backend{t: t, name: "sorry", addr: "127.79.0.30:19000"}
	for _, b := range []*backend{api1, api2, sorry} {
		b.start()
		t.Cleanup(b.stop)
	}
	cfgPath := filepath.Join(t.TempDir(), "lvs.cf")
	writeFile(t, cfgPath, healthCfg)
	r := startRouter(t, nil, cfgPath)
	ctx := context.Background()
	who := func() string {
		body, err := get(ctx, "http://127.79.0.100:19000/", "")
		if err != nil {
			t.Fatalf("request through the VIP failed: %v", err)
		}
		return strings.Fields(body)[0]
	}
	spread := func(n int) map[string]int {
		m := map[string]int{}
		for range n {
			m[who()]++
		}
		return m
	}
	if s := spread(4); s["api1"] != 2 || s["api2"] != 2 {
		t.Fatalf("both up under rr: %v", s)
	}

	// api2 dies: it leaves, with its reason in the listing, and traffic
	// follows without a failed request.
	api2.stop()
	testutil.WaitFor(t, 10*time.Second, "api2 marked down", func() bool { return stateOf(t, r.socket, "127.79.0.22:19000") == "down" })
	out, _, _ := govs(t, "list", "--json", "--socket", r.socket)
	if !strings.Contains(out, `"state": "down"`) || !strings.Contains(out, "connect refused") {
		t.Errorf("list --json does not show api2 down with its reason:\n%s", out)
	}
	if s := spread(4); s["api1"] != 4 {
		t.Fatalf("api2 down: %v", s)
	}
	hout, _, code := govs(t, "health", "--socket", r.socket)
	if code != 0 || !strings.Contains(hout, "127.79.0.22:19000") || !strings.Contains(hout, "down") {
		t.Errorf("govs health:\n%s", hout)
	}

	// It comes back after reentry / timeout = 2 good checks.
	api2.start()
	testutil.WaitFor(t, 15*time.Second, "api2 back", func() bool { return stateOf(t, r.socket, "127.79.0.22:19000") == "up" })

	// An operator drain holds across a reload, until cleared.
	if out, errOut, code := govs(t, "realserver", "drain", "127.79.0.21:19000", "--service", "api", "--socket", r.socket); code != 0 {
		t.Fatalf("realserver drain: %d %s%s", code, out, errOut)
	}
	if got := stateOf(t, r.socket, "127.79.0.21:19000"); got != "draining" {
		t.Fatalf("api1 after drain: %s", got)
	}
	if _, errOut, code := govs(t, "reload", "--socket", r.socket); code != 0 {
		t.Fatal(errOut)
	}
	if got := stateOf(t, r.socket, "127.79.0.21:19000"); got != "draining" {
		t.Fatalf("api1 after a reload: %s, want the drain to hold", got)
	}
	if s := spread(4); s["api2"] != 4 {
		t.Fatalf("api1 draining: %v", s)
	}
	if _, errOut, code := govs(t, "realserver", "drain", "192.0.2.77", "--socket", r.socket); code != 1 || !strings.Contains(errOut, "192.0.2.77") {
		t.Errorf("override of an unknown server: code %d %s", code, errOut)
	}
	if _, _, code := govs(t, "realserver", "explode", "127.79.0.21", "--socket", r.socket); code != 2 {
		t.Errorf("unknown action: code %d, want 2", code)
	}
	if _, errOut, code := govs(t, "realserver", "clear", "127.79.0.21:19000", "--socket", r.socket); code != 0 {
		t.Fatal(errOut)
	}
	testutil.WaitFor(t, 5*time.Second, "api1 back after clear", func() bool { return stateOf(t, r.socket, "127.79.0.21:19000") == "up" })

	// Everything down: the sorry server answers, and leaves when a real
	// server returns.
	api1.stop()
	api2.stop()
	testutil.WaitFor(t, 10*time.Second, "sorry server", func() bool {
		body, err := get(ctx, "http://127.79.0.100:19000/", "")
		return err == nil && strings.HasPrefix(body, "sorry")
	})
	api1.start()
	testutil.WaitFor(t, 15*time.Second, "api1 back from the outage", func() bool {
		body, err := get(ctx, "http://127.79.0.100:19000/", "")
		return err == nil && strings.HasPrefix(body, "api1")
	})
}
