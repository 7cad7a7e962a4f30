//go:build linux

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/govs/govs/internal/netnstest"
)

// The namespaces' router configuration: a persistent mark service bundling
// 80 and 443 with a /25 persistence mask, a wrr service, a UDP service, on
// the VIP 203.0.113.100 (and 2001:db8::100), real servers on 198.51.100.0/24.
var netnsCfg = `serial_no = 1
primary = 203.0.113.1
service = lvs
network = nat

virtual web {
    active = 1
    address = 203.0.113.100 r0
    port = 80
    fwmark = 80
    fwmark_ports = 80,443
    persistent = 300
    pmask = 255.255.255.128
    scheduler = rr
` + lvsServers("198.51.100.11", "198.51.100.12") + `}

virtual web6 {
    active = 1
    address = 2001:db8::100 r0
    port = 80
    scheduler = rr
` + lvsServers("2001:db8:1::11") + `}

virtual shares {
    active = 1
    address = 203.0.113.100 r0
    port = 8000
    scheduler = wrr
    server rs1 {
        address = 198.51.100.11
        port = 8000
        active = 1
        weight = %d
    }
    server rs2 {
        address = 198.51.100.12
        port = 8000
        active = 1
        weight = 1
    }
}

virtual dns {
    active = 1
    address = 203.0.113.100 r0
    port = 53
    protocol = udp
    scheduler = rr
` + lvsServers("198.51.100.11", "198.51.100.12") + `}
`

// clientAddrs are the client's source addresses: four /25 networks.
var clientAddrs = []string{"203.0.113.2", "203.0.113.3", "203.0.113.130", "192.0.2.2", "192.0.2.3", "192.0.2.130"}

func TestNamespaceRouter(t *testing.T) {
	netnstest.Require(t)
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("curl is missing: scripts/deps.sh installs it")
	}
	client := netnstest.New(t, "client")
	rtr := netnstest.New(t, "router")
	rs1 := netnstest.New(t, "rs1")
	rs2 := netnstest.New(t, "rs2")

	netnstest.Veth(t, client, "c0", rtr, "r0")
	for _, a := range clientAddrs {
		client.Addr("c0", a+"/24")
	}
	client.Addr("c0", "2001:db8::2/64")
	client.Run("ip", "route", "add", "default", "via", "203.0.113.1")
	rtr.Addr("r0", "203.0.113.1/24")
	rtr.Addr("r0", "203.0.113.100/32")
	rtr.Addr("r0", "2001:db8::1/64")
	rtr.Addr("r0", "2001:db8::100/128")
	rtr.Run("ip", "route", "add", "192.0.2.0/24", "via", "203.0.113.2")

	readyDir := t.TempDir()
	var readyFiles []string
	rtr.Run("ip", "link", "add", "br0", "type", "bridge")
	rtr.Run("ip", "link", "set", "br0", "up")
	rtr.Addr("br0", "198.51.100.1/24")
	rtr.Addr("br0", "2001:db8:1::1/64")
	for i, rs := range []*netnstest.NS{rs1, rs2} {
		port := fmt.Sprintf("p%d", i)
		netnstest.Veth(t, rs, "eth0", rtr, port)
		rtr.Run("ip", "link", "set", port, "master", "br0")
		addr := fmt.Sprintf("198.51.100.%d", 11+i)
		rs.Addr("eth0", addr+"/24")
		rs.Addr("eth0", fmt.Sprintf("2001:db8:1::%d/64", 11+i))
		name := fmt.Sprintf("rs%d", i+1)
		self, _ := os.Executable()
		httpReady, udpReady := filepath.Join(readyDir, name+".http"), filepath.Join(readyDir, name+".udp")
		readyFiles = append(readyFiles, httpReady, udpReady)
		rs.Start([]string{"GOVS_E2E_ROLE=http", "GOVS_E2E_NAME=" + name, "GOVS_E2E_READY=" + httpReady,
			fmt.Sprintf("GOVS_E2E_LISTEN=%s:80,%s:443,%s:8000,[2001:db8:1::%d]:80", addr, addr, addr, 11+i)}, self)
		rs.Start([]string{"GOVS_E2E_ROLE=udp", "GOVS_E2E_NAME=" + name, "GOVS_E2E_READY=" + udpReady,
			"GOVS_E2E_LISTEN=" + addr + ":53"}, self)
	}
	// The router checks real servers at once; they must be listening by
	// then, or they start out down for reentry's 180 s.
	waitReady(t, readyFiles...)

	cfgPath := filepath.Join(t.TempDir(), "lvs.cf")
	writeFile(t, cfgPath, fmt.Sprintf(netnsCfg, 3))
	r := startRouter(t, []string{"ip", "netns", "exec", rtr.Name}, cfgPath)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	curl := func(src, url string) string {
		t.Helper()
		args := []string{"curl", "-sS", "--max-time", "10", "-g"}
		if src != "" {
			args = append(args, "--interface", src)
		}
		out, err := client.Try(ctx, append(args, url)...)
		if err != nil {
			t.Fatalf("curl %s from %s: %v\n%s", url, src, err, out)
		}
		return strings.TrimSpace(out)
	}
	server := func(body string) string { return strings.Fields(body)[0] }

	// One client, both bundled ports, several times: one real server, and
	// each port reaches that server's same port.
	owner := map[string]string{}
	for _, src := range clientAddrs {
		for range 2 {
			// 443 carries plain HTTP here: the test's real servers do not
			// speak TLS, and the router forwards bytes either way.
			a, b := curl(src, "http://203.0.113.100/"), curl(src, "http://203.0.113.100:443/")
			if server(a) != server(b) || !strings.HasSuffix(a, " 80") || !strings.HasSuffix(b, " 443") {
				t.Fatalf("client %s: port 80 answered %q, port 443 %q", src, a, b)
			}
			if prev, ok := owner[src]; ok && prev != server(a) {
				t.Fatalf("client %s moved from %s to %s", src, prev, server(a))
			}
			owner[src] = server(a)
		}
	}
	// The persistence mask is /25: clients of one /25 share a server.
	if owner["203.0.113.2"] != owner["203.0.113.3"] || owner["192.0.2.2"] != owner["192.0.2.3"] {
		t.Errorf("clients of one /25 on different servers: %v", owner)
	}
	// Four /25 networks under rr over two servers: both servers used.
	used := map[string]bool{}
	for _, s := range owner {
		used[s] = true
	}
	if len(used) != 2 {
		t.Errorf("four client networks all on one server: %v", owner)
	}

	// IPv6 through the router.
	if got := curl("2001:db8::2", "http://[2001:db8::100]/"); got != "rs1 80" {
		t.Errorf("IPv6 service answered %q", got)
	}

	// wrr 3:1 shares.
	counts := map[string]int{}
	for range 40 {
		counts[server(curl("", "http://203.0.113.100:8000/"))]++
	}
	if counts["rs1"] != 30 || counts["rs2"] != 10 {
		t.Errorf("wrr 3:1 over 40 connections: %v", counts)
	}

	// UDP.
	self, _ := os.Executable()
	udpSeen := map[string]bool{}
	for _, src := range clientAddrs[:4] {
		cmd := client.Command(self)
		cmd.Env = append(os.Environ(), "GOVS_E2E_ROLE=udpask", "GOVS_E2E_TARGET=203.0.113.100:53", "GOVS_E2E_SOURCE="+src)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.HasSuffix(strings.TrimSpace(string(out)), " ping") {
			t.Fatalf("UDP from %s: %v %q", src, err, out)
		}
		udpSeen[strings.Fields(string(out))[0]] = true
	}
	if len(udpSeen) != 2 {
		t.Errorf("UDP flows from four clients under rr reached %v", udpSeen)
	}

	// Quiesce by weight 0: an open stream to rs1 keeps flowing through a
	// reload, and no new connection goes to rs1. After 40 picks wrr is at
	// the start of its cycle, which in the kernel's order (newest first)
	// is rs2, rs1, rs1, rs1: one more pick takes rs2, and the stream lands
	// on rs1.
	if s := server(curl("", "http://203.0.113.100:8000/")); s != "rs2" {
		t.Fatalf("wrr 3:1 cycle starts with %s, want rs2", s)
	}
	stream := background(func() (string, error) {
		return client.Try(ctx, "curl", "-sS", "--max-time", "20", "http://203.0.113.100:8000/stream?n=20")
	})
	time.Sleep(400 * time.Millisecond)
	writeFile(t, cfgPath, fmt.Sprintf(netnsCfg, 0))
	if _, errOut, code := govs(t, "reload", "--socket", r.socket); code != 0 {
		t.Fatalf("reload: %s", errOut)
	}
	for range 8 {
		if s := server(curl("", "http://203.0.113.100:8000/")); s != "rs2" {
			t.Fatalf("a new connection went to quiesced %s", s)
		}
	}
	if got, err := stream(); err != nil || strings.Count(got, "\n") != 20 || !strings.HasPrefix(got, "rs1 ") {
		t.Fatalf("stream across the quiesce: %v, %d lines\n%s", err, strings.Count(got, "\n"), got)
	}
	out, _, _ := govs(t, "list", "--stats", "--socket", r.socket)
	if !strings.Contains(out, "FWM  80") || !strings.Contains(out, "198.51.100.11:8000") {
		t.Errorf("list --stats:\n%s", out)
	}
}
