//go:build linux

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/govs/govs/internal/netnstest"
)

const floodCfg = `primary = 203.0.113.1
service = lvs

virtual web {
    active = 1
    address = 203.0.113.100 r0
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
    address = 203.0.113.100 r0
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

// udpflood sends one datagram to GOVS_E2E_TARGET from each of
// GOVS_E2E_COUNT fresh sockets, as many flows, and prints how many it sent.
func udpflood() int {
	target, err := net.ResolveUDPAddr("udp", os.Getenv("GOVS_E2E_TARGET"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	n, _ := strconv.Atoi(os.Getenv("GOVS_E2E_COUNT"))
	sent := 0
	// Each flow from a port of its own: ephemeral ports drawn at random
	// would repeat, and a repeat is the same flow, not a new one.
	for i := range n {
		c, err := net.ListenUDP("udp", &net.UDPAddr{Port: 20000 + i})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if _, err := c.WriteToUDP([]byte("q"), target); err == nil {
			sent++
		}
		c.Close()
	}
	fmt.Println(sent)
	return 0
}

// A burst of UDP flows from a client namespace, far more than the
// router's descriptors, against a router in its own namespace started with
// a low descriptor limit: the flows beyond its socket budget are refused
// and counted, and the router keeps its control socket, its TCP service
// and its health checks.
func TestUDPFloodKeepsRouter(t *testing.T) {
	netnstest.Require(t)
	if _, err := exec.LookPath("prlimit"); err != nil {
		t.Skip("flood test: needs prlimit (util-linux) to lower the router's descriptor limit")
	}
	client := netnstest.New(t, "client")
	rtr := netnstest.New(t, "router")
	netnstest.Veth(t, client, "c0", rtr, "r0")
	client.Addr("c0", "203.0.113.2/24")
	client.Run("ip", "route", "add", "default", "via", "203.0.113.1")
	rtr.Addr("r0", "203.0.113.1/24")
	rtr.Addr("r0", "203.0.113.100/32")
	self, _ := os.Executable()
	readyDir := t.TempDir()
	var ready []string
	for _, b := range []struct{ role, name, listen string }{
		{"http", "web1", "127.81.0.11:18080"}, {"http", "web2", "127.81.0.12:18080"}, {"udp", "dns1", "127.81.0.21:15353"},
	} {
		f := filepath.Join(readyDir, b.name)
		ready = append(ready, f)
		rtr.Start([]string{"GOVS_E2E_ROLE=" + b.role, "GOVS_E2E_NAME=" + b.name, "GOVS_E2E_READY=" + f,
			"GOVS_E2E_LISTEN=" + b.listen}, self)
	}
	waitReady(t, ready...)
	cfgPath := filepath.Join(t.TempDir(), "lvs.cf")
	writeFile(t, cfgPath, floodCfg)
	// 512 descriptors: the budget is what is left after a reserve of 256.
	r := startRouter(t, []string{"ip", "netns", "exec", rtr.Name, "prlimit", "--nofile=512:512"}, cfgPath)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bothAnswer := func(when string) {
		t.Helper()
		seen := map[string]bool{}
		for range 6 {
			out, err := client.Try(ctx, "curl", "-sS", "--max-time", "10", "http://203.0.113.100:18080/")
			if err != nil {
				t.Fatalf("%s: TCP service: %v\n%s", when, err, out)
			}
			seen[strings.Fields(out)[0]] = true
		}
		if !seen["web1"] || !seen["web2"] {
			t.Fatalf("%s: rr over two healthy servers reached only %v", when, seen)
		}
	}
	bothAnswer("before the flood")

	// 5,000 flows, each from a socket of its own, sent in about a second.
	const flows = 5000
	flood := client.Command(self)
	flood.Env = append(os.Environ(), "GOVS_E2E_ROLE=udpflood", "GOVS_E2E_TARGET=203.0.113.100:15353",
		fmt.Sprintf("GOVS_E2E_COUNT=%d", flows))
	floodOut, err := flood.Output()
	if err != nil {
		t.Fatalf("udpflood: %v\n%s", err, floodOut)
	}
	sent, err := strconv.Atoi(strings.TrimSpace(string(floodOut)))
	if err != nil || sent < flows*9/10 {
		t.Fatalf("udpflood sent %q of %d", floodOut, flows)
	}

	var st struct {
		Sockets struct {
			UDP        int    `json:"udp"`
			UDPLimit   int    `json:"udp_limit"`
			RefusedUDP uint64 `json:"refused_udp"`
			DroppedUDP uint64 `json:"dropped_udp"`
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
		s := st.Sockets
		if s.UDP+int(s.RefusedUDP+s.DroppedUDP) >= sent || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	s := st.Sockets
	// Every datagram is accounted for: held as a flow, refused by the
	// budget, or counted as dropped by the kernel at the full socket.
	if s.UDPLimit == 0 || s.UDP > s.UDPLimit || s.RefusedUDP == 0 ||
		s.UDP+int(s.RefusedUDP+s.DroppedUDP) != sent {
		t.Fatalf("after %d flows: %+v, want the flows held within the UDP limit and every other datagram counted refused or dropped", sent, s)
	}
	t.Logf("%d flows: %d held (limit %d), %d refused, %d dropped at the socket", sent, s.UDP, s.UDPLimit, s.RefusedUDP, s.DroppedUDP)

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
	ask := client.Command(self)
	ask.Env = append(os.Environ(), "GOVS_E2E_ROLE=udpask", "GOVS_E2E_TARGET=203.0.113.100:15353")
	if out, err := ask.CombinedOutput(); err == nil {
		t.Fatalf("a new flow over the spent budget was answered: %s", out)
	}
}
