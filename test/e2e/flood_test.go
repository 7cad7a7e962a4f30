package e2e

import (
	"context"
	"encoding/json"
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

const floodCfg = `primary = 127.0.0.1
service = lvs

virtual web {
    active = 1
    address = 127.81.0.100 lo
    port = 18080
    scheduler = rr
    timeout = 1
    server web1 {
        address = 127.81.0.11
        port = 18080
        active = 1
    }
    server web2 {
        address = 127.81.0.12
        port = 18080
        active = 1
    }
}

virtual dns {
    active = 1
    address = 127.81.0.100 lo
    port = 15353
    protocol = udp
    scheduler = rr
    timeout = 1
    server dns1 {
        address = 127.81.0.21
        port = 15353
        active = 1
    }
}
`

// A burst of UDP flows, far more than the router's descriptors, against a
// router started with a low descriptor limit: the flows beyond its socket
// budget are refused and counted, and the router keeps its control socket,
// its TCP service and its health checks.
func TestUDPFloodKeepsRouter(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("flood test: needs Linux, where all of 127.0.0.0/8 is local")
	}
	if _, err := exec.LookPath("prlimit"); err != nil {
		t.Skip("flood test: needs prlimit (util-linux) to lower the router's descriptor limit")
	}
	backends(t, map[string]string{"web1": "127.81.0.11:18080", "web2": "127.81.0.12:18080"},
		map[string]string{"dns1": "127.81.0.21:15353"})
	cfgPath := filepath.Join(t.TempDir(), "lvs.cf")
	writeFile(t, cfgPath, floodCfg)
	// 512 descriptors: the budget is what is left after a reserve of 256.
	r := startRouter(t, []string{"prlimit", "--nofile=512:512"}, cfgPath)
	ctx := context.Background()
	bothAnswer := func(when string) {
		t.Helper()
		seen := map[string]bool{}
		for range 6 {
			body, err := get(ctx, "http://127.81.0.100:18080/", "127.81.5.1")
			if err != nil {
				t.Fatalf("%s: TCP service: %v", when, err)
			}
			seen[strings.Fields(body)[0]] = true
		}
		if !seen["web1"] || !seen["web2"] {
			t.Fatalf("%s: rr over two healthy servers reached only %v", when, seen)
		}
	}
	bothAnswer("before the flood")

	// 5,000 flows, each from a socket of its own, sent in about a second.
	const flows = 5000
	vip := net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.81.0.100:15353"))
	for i := range flows {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 81, 6, byte(1+i%200))})
		if err != nil {
			t.Fatal(err)
		}
		_, _ = c.WriteToUDP([]byte("q"), vip)
		c.Close()
	}

	var st struct {
		Sockets struct {
			UDP        int    `json:"udp"`
			UDPLimit   int    `json:"udp_limit"`
			RefusedUDP uint64 `json:"refused_udp"`
		} `json:"sockets"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, errOut, code := govs(t, "status", "--json", "--socket", r.socket)
		if code != 0 {
			t.Fatalf("govs status during the flood: %d %s", code, errOut)
		}
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatalf("status JSON: %v\n%s", err, out)
		}
		if st.Sockets.UDP+int(st.Sockets.RefusedUDP) >= flows || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	s := st.Sockets
	if s.UDPLimit == 0 || s.UDP > s.UDPLimit || s.RefusedUDP == 0 ||
		s.UDP+int(s.RefusedUDP) < flows*9/10 {
		t.Fatalf("after %d flows: %+v, want the flows held within the UDP limit and the rest refused", flows, s)
	}
	t.Logf("%d flows: %d held (limit %d), %d refused", flows, s.UDP, s.UDPLimit, s.RefusedUDP)

	// The router still answers, serves TCP, and its health checks, three
	// rounds later, still find both servers up.
	out, _, code := govs(t, "status", "--socket", r.socket)
	if code != 0 || !strings.Contains(out, "refused") {
		t.Fatalf("govs status after the flood: %d\n%s", code, out)
	}
	time.Sleep(3 * time.Second)
	bothAnswer("after the flood")
	out, _, code = govs(t, "list", "-n", "--socket", r.socket)
	if code != 0 || strings.Count(out, "Masq") != 3 || strings.Contains(out, "down") {
		t.Fatalf("govs list after the flood: %d\n%s", code, out)
	}
	if log := r.log.String(); strings.Contains(log, "too many open files") && strings.Contains(log, "down") {
		t.Fatalf("a health check failed for want of descriptors:\n%s", log)
	}
	// While the flood's flows are held, a new flow is refused: the budget
	// bounds what traffic may take, it does not cut what is open.
	c, err := net.DialUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 81, 7, 1)}, vip)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, _ = c.Write([]byte("late"))
	buf := make([]byte, 64)
	if n, err := c.Read(buf); err == nil {
		t.Fatalf("a new flow over the spent budget was answered: %q", buf[:n])
	}
}
