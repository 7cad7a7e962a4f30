//go:build linux

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/govs/govs/internal/testutil"
)

const loopbackCfg = `serial_no = %d
primary = 127.0.0.1
service = lvs
network = nat

virtual web {
    active = 1
    address = 127.78.0.100 lo
    port = 18080
    fwmark = 80
    fwmark_ports = 18080,18443
    persistent = 60
    scheduler = rr
    server web1 {
        address = 127.78.0.11
        active = 1
    }
    server web2 {
        address = 127.78.0.12
        active = 1
    }
}

virtual api {
    active = 1
    address = 127.78.0.100 lo
    port = 19000
    scheduler = %s
    server api1 {
        address = 127.78.0.21
        port = 19000
        active = 1
        weight = %d
    }
    server api2 {
        address = 127.78.0.22
        port = 19000
        active = 1
        weight = 1
    }
}
%s`

const extraService = `
virtual extra {
    active = 1
    address = 127.78.0.101 lo
    port = 19100
    scheduler = rr
    server x1 {
        address = 127.78.0.21
        port = 19000
        active = 1
    }
}
`

func loopbackBackends(t *testing.T) {
	t.Helper()
	for name, addrs := range map[string][]string{
		"web1": {"127.78.0.11:18080", "127.78.0.11:18443"},
		"web2": {"127.78.0.12:18080", "127.78.0.12:18443"},
		"api1": {"127.78.0.21:19000"},
		"api2": {"127.78.0.22:19000"},
	} {
		for _, a := range addrs {
			ln, err := net.Listen("tcp", a)
			if err != nil {
				t.Fatal(err)
			}
			srv := &http.Server{Handler: handler(name)}
			go func() { _ = srv.Serve(ln) }()
			t.Cleanup(func() { _ = srv.Close() })
		}
	}
}

// The router as an operator runs it, on loopback without privileges:
// check, run, list, reloads good and bad (by command and by SIGHUP), reload
// under load, and a graceful stop that lets an open connection finish.
func TestLoopbackRouter(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("loopback test: needs Linux, where all of 127.0.0.0/8 is local")
	}
	loopbackBackends(t)
	cfgPath := filepath.Join(t.TempDir(), "lvs.cf")
	writeFile(t, cfgPath, fmt.Sprintf(loopbackCfg, 1, "wrr", 3, ""))

	out, errOut, code := govs(t, "check", "-c", cfgPath)
	if code != 0 || !strings.Contains(out, "OK") {
		t.Fatalf("check: code %d\n%s%s", code, out, errOut)
	}
	r := startRouter(t, nil, cfgPath)
	ctx := context.Background()

	// The bundle: one client, both ports, one real server, ports kept.
	a, err := get(ctx, "http://127.78.0.100:18080/", "127.78.5.1")
	if err != nil {
		t.Fatal(err)
	}
	b, err := get(ctx, "http://127.78.0.100:18443/", "127.78.5.1")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Fields(a)[0] != strings.Fields(b)[0] || !strings.HasSuffix(strings.TrimSpace(a), "18080") ||
		!strings.HasSuffix(strings.TrimSpace(b), "18443") {
		t.Fatalf("bundle answers %q and %q: want one server, each port kept", a, b)
	}

	// govs list reads like ipvsadm -L -n.
	out, errOut, code = govs(t, "list", "-n", "--socket", r.socket)
	if code != 0 {
		t.Fatalf("list: %d %s", code, errOut)
	}
	for _, want := range []string{"FWM  80 rr persistent 60", "TCP  127.78.0.100:19000 wrr",
		"-> 127.78.0.21:19000", "-> 127.78.0.11:0"} {
		if !strings.Contains(out, want) {
			t.Errorf("govs list lacks %q:\n%s", want, out)
		}
	}
	listOptions(t, r.socket, out)
	if conns := listConns(t, r.socket); len(conns) != 2 {
		t.Fatalf("list --json: %v, want two services", conns)
	}
	if out, _, _ := govs(t, "list", "-c", "--socket", r.socket); !strings.Contains(out, "IPVS connection entries") ||
		!strings.Contains(out, "127.78.5.1:0") {
		t.Errorf("list -c lacks the header or the persistence template:\n%s", out)
	}

	// wrr 3:1 over 40 connections.
	counts := map[string]int{}
	for range 40 {
		body, err := get(ctx, "http://127.78.0.100:19000/", "")
		if err != nil {
			t.Fatal(err)
		}
		counts[strings.Fields(body)[0]]++
	}
	if counts["api1"] != 30 || counts["api2"] != 10 {
		t.Errorf("wrr 3:1 over 40 connections: %v", counts)
	}

	zeroCounters(t, r.socket)

	// A bad file is refused with FILE:LINE and the old one keeps serving.
	good := fmt.Sprintf(loopbackCfg, 2, "wrr", 3, "")
	bad := strings.Replace(good, "    scheduler = rr\n", "    scheduler = rr\n    bogus_keyword = 1\n", 1)
	badLine := 1 + strings.Count(bad[:strings.Index(bad, "bogus_keyword")], "\n")
	writeFile(t, cfgPath, bad)
	_, errOut, code = govs(t, "reload", "--socket", r.socket)
	if code != 1 || !strings.Contains(errOut, fmt.Sprintf("%s:%d:", cfgPath, badLine)) {
		t.Fatalf("reload of a bad file: code %d, want 1 and %s:%d:\n%s", code, cfgPath, badLine, errOut)
	}
	_, errOut, code = govs(t, "check", "-c", cfgPath)
	if code != 1 || !strings.Contains(errOut, fmt.Sprintf("%s:%d:", cfgPath, badLine)) {
		t.Fatalf("check of a bad file: code %d\n%s", code, errOut)
	}
	if _, err := get(ctx, "http://127.78.0.100:19000/", ""); err != nil {
		t.Fatalf("after a refused reload the old configuration stopped serving: %v", err)
	}

	// Reload under load: clients hammer the unchanged bundle and the api
	// service while reloads add and remove a service and change the
	// api service's scheduler and weights, by command and by SIGHUP.
	load := testutil.StartLoad(4, 5000, func(g, i int) error {
		url := "http://127.78.0.100:18080/"
		if i%2 == 1 {
			url = "http://127.78.0.100:19000/"
		}
		_, err := get(ctx, url, fmt.Sprintf("127.78.%d.%d", 10+g, 1+i%200))
		return err
	})
	variants := []string{
		fmt.Sprintf(loopbackCfg, 3, "wlc", 2, extraService),
		fmt.Sprintf(loopbackCfg, 4, "rr", 5, ""),
		fmt.Sprintf(loopbackCfg, 5, "sh", 1, extraService),
		fmt.Sprintf(loopbackCfg, 6, "wrr", 3, ""),
	}
	for i := range 12 {
		writeFile(t, cfgPath, variants[i%len(variants)])
		if i%2 == 0 {
			out, errOut, code := govs(t, "reload", "--socket", r.socket)
			if code != 0 {
				t.Fatalf("reload %d: %s", i, errOut)
			}
			// It says which configuration now runs, and what changed.
			if want := fmt.Sprintf(`^reloaded: serial_no \d+ → %d: .*(service|real server|no change).* \(reloads: \d+ applied, 1 refused\)\n$`,
				3+i%len(variants)); !regexp.MustCompile(want).MatchString(out) {
				t.Fatalf("reload %d printed %q, want %s", i, out, want)
			}
		} else {
			_ = r.cmd.Process.Signal(syscall.SIGHUP)
		}
		time.Sleep(150 * time.Millisecond)
	}
	ok, failed, first := load.Stop()
	if done := ok + failed; failed != 0 || done < 100 {
		t.Fatalf("reload under load: %d of %d requests failed (first: %v)", failed, done, first)
	}
	t.Logf("reload under load: %d requests, 12 reloads, 0 failed", ok)
	st, _, _ := govs(t, "status", "--json", "--socket", r.socket)
	if !strings.Contains(st, `"reloads": 12`) || !strings.Contains(st, `"reload_errors": 1`) {
		t.Errorf("status after 13 reloads (1 refused, 6 by command, 6 by SIGHUP):\n%s", st)
	}

	// Graceful stop: an open stream finishes, then the router exits 0.
	stream := background(func() (string, error) { return get(ctx, "http://127.78.0.100:19000/stream?n=15", "") })
	time.Sleep(300 * time.Millisecond)
	if code := r.stop(t, syscall.SIGTERM, 15*time.Second); code != 0 {
		t.Fatalf("govs run exit code %d after SIGTERM, want 0", code)
	}
	if body, err := stream(); err != nil || strings.Count(body, "\n") != 15 {
		t.Fatalf("stream across a graceful stop: %v, %d lines", err, strings.Count(body, "\n"))
	}
	if _, err := get(ctx, "http://127.78.0.100:19000/", ""); err == nil {
		t.Fatal("the router still accepts after it stopped")
	}
	if _, errOut, code := govs(t, "list", "--socket", r.socket); code != 3 || !strings.Contains(errOut, "no govs router") {
		t.Errorf("list with no router: code %d, %s", code, errOut)
	}
}

// listOptions runs ipvsadm's listing options against a running router:
// bundled short flags, one service by -t or -f, the thresholds,
// persistent-conn and timeout views, and a service that is not there.
func listOptions(t *testing.T, socket, listN string) {
	t.Helper()
	if out, _, code := govs(t, "list", "-Ln", "--socket", socket); code != 0 || out != listN {
		t.Errorf("list -Ln (code %d) differs from list -n:\n%s", code, out)
	}
	out, _, code := govs(t, "list", "-L", "-n", "-t", "127.78.0.100:19000", "--socket", socket)
	if lines := strings.Split(out, "\n"); code != 0 || lines[0] != "Prot LocalAddress:Port Scheduler Flags" ||
		!strings.Contains(out, "TCP  127.78.0.100:19000 wrr") || strings.Contains(out, "FWM") {
		t.Errorf("list -t (code %d): want that service alone, without a title line:\n%s", code, out)
	}
	if out, _, code := govs(t, "list", "-f", "80", "--socket", socket); code != 0 ||
		!strings.Contains(out, "FWM  80 rr") || strings.Contains(out, "TCP  127.78.0.100:19000") {
		t.Errorf("list -f 80 (code %d):\n%s", code, out)
	}
	if _, errOut, code := govs(t, "list", "-t", "127.78.0.100:1", "--socket", socket); code != 1 ||
		!strings.Contains(errOut, "no such service: TCP 127.78.0.100:1") {
		t.Errorf("list -t of a service that is not there: code %d, %q", code, errOut)
	}
	for flag, header := range map[string]string{"--thresholds": "Uthreshold Lthreshold ActiveConn InActConn",
		"--persistent-conn": "Weight    PersistConn ActiveConn InActConn"} {
		if out, _, code := govs(t, "list", flag, "--socket", socket); code != 0 || !strings.Contains(out, header) ||
			!strings.Contains(out, "-> 127.78.0.21:19000") {
			t.Errorf("list %s (code %d):\n%s", flag, code, out)
		}
	}
	if out, _, code := govs(t, "list", "--timeout", "--socket", socket); code != 0 ||
		!regexp.MustCompile(`^Timeout \(tcp tcpfin udp\): \d+ \d+ \d+\n$`).MatchString(out) {
		t.Errorf("list --timeout (code %d): %q", code, out)
	}
}

// zeroCounters zeroes one service's counters, as ipvsadm -Z -t does, and
// then all: the named service's Conns read 0 and the others' stay, until
// everything is zeroed.
func zeroCounters(t *testing.T, socket string) {
	t.Helper()
	conns := func() map[string]uint64 { return listConns(t, socket) }
	before := conns()
	api, bundle := "TCP  127.78.0.100:19000", "FWM  80"
	if before[api] < 40 || before[bundle] == 0 {
		t.Fatalf("counters before zeroing: %v", before)
	}
	out, errOut, code := govs(t, "zero", "-t", "127.78.0.100:19000", "--socket", socket)
	if code != 0 || out != "zeroed the counters of 1 service(s): "+api+"\n" {
		t.Fatalf("zero -t: code %d %q %q", code, out, errOut)
	}
	if after := conns(); after[api] != 0 || after[bundle] != before[bundle] {
		t.Fatalf("after zero -t: %v (before %v)", after, before)
	}
	if _, errOut, code := govs(t, "zero", "nosuch", "--socket", socket); code != 1 || !strings.Contains(errOut, `no virtual service named "nosuch"`) {
		t.Fatalf("zero nosuch: code %d %q", code, errOut)
	}
	if out, _, code := govs(t, "zero", "--socket", socket); code != 0 || !strings.HasPrefix(out, "zeroed the counters of 2 service(s)") {
		t.Fatalf("zero: code %d %q", code, out)
	}
	if after := conns(); after[api] != 0 || after[bundle] != 0 {
		t.Fatalf("after zero: %v", after)
	}
}

// listConns reads govs list --json: each service's connection count, by
// key.
func listConns(t *testing.T, socket string) map[string]uint64 {
	t.Helper()
	out, _, code := govs(t, "list", "--json", "--socket", socket)
	var snap struct {
		Services []struct {
			Key   string `json:"key"`
			Stats struct {
				Conns uint64 `json:"conns"`
			} `json:"stats"`
		} `json:"services"`
	}
	if err := json.Unmarshal([]byte(out), &snap); code != 0 || err != nil {
		t.Fatalf("list --json: code %d, %v: %q", code, err, out)
	}
	m := map[string]uint64{}
	for _, s := range snap.Services {
		m[s.Key] = s.Stats.Conns
	}
	return m
}
