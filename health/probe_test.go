package health

import (
	"bufio"
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/govs/govs/internal/testutil"
	"github.com/govs/govs/model"
	"golang.org/x/net/dns/dnsmessage"
)

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{
		`GET / HTTP/1.0\r\n\r\n`: "GET / HTTP/1.0\r\n\r\n",
		`a\tb\\c\"d\'e`:          "a\tb\\c\"d'e",
		`keep \x and trailing \`: `keep \x and trailing \`,
		`plain`:                  "plain",
	} {
		if got := unescape(in); got != want {
			t.Errorf("unescape(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestBuildSpecDefaults(t *testing.T) {
	rs := realServer(netip.MustParseAddrPort("198.51.100.2:8080"), 3)
	web := service("web", 80, model.Check{Interval: 6 * time.Second, Reentry: 15 * time.Second})
	sp := buildSpec(&web, rs)
	if sp.probe.kind != kindTCP || sp.probe.send != "GET / HTTP/1.0\r\n\r\n" || sp.probe.expect != "HTTP" {
		t.Errorf("port 80 default: %+v", sp.probe)
	}
	if sp.port != 8080 || sp.probe.rise != 2 || sp.probe.fall != 1 {
		t.Errorf("port %d rise %d fall %d, want 8080 2 1 (reentry 15 / timeout 6)", sp.port, sp.probe.rise, sp.probe.fall)
	}
	if sp.slowstart != -1 {
		t.Errorf("slowstart %v, want nanny's default", sp.slowstart)
	}

	// Explicit tcp on port 80 is a plain connect; port 0 checks the
	// virtual port; check_port wins over both.
	web.Check.Extra = map[string]string{model.KeyCheckType: "TCP"}
	zero := rs
	zero.Port = 0
	sp = buildSpec(&web, zero)
	if sp.probe.send != "" || sp.probe.expect != "" || sp.port != 80 {
		t.Errorf("explicit tcp, port 0: %+v port %d", sp.probe, sp.port)
	}
	web.Check.Extra = map[string]string{model.KeyCheckPort: "https", model.KeyRise: "4", model.KeyFall: "2", model.KeySlowstart: "30"}
	sp = buildSpec(&web, rs)
	if sp.port != 443 || sp.probe.rise != 4 || sp.probe.fall != 2 || sp.slowstart != 30*time.Second {
		t.Errorf("extras: %+v port %d slowstart %v", sp.probe, sp.port, sp.slowstart)
	}

	other := service("smtp", 25, model.Check{})
	other.Check = model.Check{Reentry: 3 * time.Second}
	sp = buildSpec(&other, rs)
	if sp.probe.kind != kindTCP || sp.probe.send != "" || sp.probe.interval != DefaultInterval || sp.probe.rise != 1 {
		t.Errorf("plain connect: %+v", sp.probe)
	}
	udp := service("dns", 53, model.Check{})
	udp.Proto = model.ProtoUDP
	if sp := buildSpec(&udp, rs); sp.probe.kind != kindUDP {
		t.Errorf("udp service: %v", sp.probe.kind)
	}
	prog := service("p", 80, model.Check{SendProgram: "/bin/true %h", Send: "x"})
	if sp := buildSpec(&prog, rs); sp.probe.kind != kindProgram || sp.probe.send != "" {
		t.Errorf("send_program drops send: %+v", sp.probe)
	}
	bad := service("b", 80, model.Check{Extra: map[string]string{model.KeyCheckType: "program"}})
	if sp := buildSpec(&bad, rs); len(sp.problems) == 0 {
		t.Error("program without send_program not reported")
	}
	dns := service("d", 53, model.Check{Extra: map[string]string{model.KeyCheckType: "dns", model.KeyDNSName: "example.org",
		model.KeyDNSType: "type65", model.KeyDNSRcode: "nxdomain"}})
	sp = buildSpec(&dns, rs)
	if sp.probe.dnsName != "example.org." || sp.probe.dnsType != 65 || sp.probe.dnsRcode != 3 {
		t.Errorf("dns: %+v", sp.probe)
	}
	if got := sp.probe.describe(); got != "dns HTTPS example.org. rcode NXDOMAIN" {
		t.Errorf("describe %q", got)
	}
}

func TestParseStatus(t *testing.T) {
	rs, err := parseStatus("200-299, 301")
	if err != nil || len(rs) != 2 || rs[0] != (statusRange{200, 299}) || rs[1] != (statusRange{301, 301}) {
		t.Fatalf("%v %v", rs, err)
	}
	for _, bad := range []string{"", "99", "300-200", "2xx", "200-700"} {
		if _, err := parseStatus(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestParseAgentReply(t *testing.T) {
	for _, c := range []struct {
		in    string
		state agentState
		pct   int
		desc  string
	}{
		{"up 75%\n", agentReady, 75, ""},
		{"75%\r\n", agentNone, 75, ""},
		{"drain", agentDrain, -1, ""},
		{"up,drain", agentDrain, -1, ""},
		{"drain up", agentDrain, -1, ""},
		{"ready 100%", agentReady, 100, ""},
		{"maint", agentMaint, -1, ""},
		{"DOWN #disk full\n", agentDown, -1, "disk full"},
		{"stopped\tmaxconn:10", agentDown, -1, ""},
	} {
		r, err := parseAgentReply(c.in)
		if err != nil || r.state != c.state || r.pct != c.pct || r.desc != c.desc {
			t.Errorf("%q: %+v %v", c.in, r, err)
		}
	}
	for _, bad := range []string{"", "hello", "x%"} {
		if _, err := parseAgentReply(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// Every mode of nanny's built-in probe against a live TCP server.
func TestPiranhaTCPModes(t *testing.T) {
	var mu sync.Mutex
	var got []string
	s := newServer(t, "127.0.0.20", func(c net.Conn) {
		c.SetDeadline(time.Now().Add(time.Second))
		br := bufio.NewReader(c)
		line, _ := br.ReadString('\n')
		mu.Lock()
		got = append(got, line)
		mu.Unlock()
		switch {
		case strings.HasPrefix(line, "GET "):
			// Two segments: the prefix compare must not depend on one read.
			io.WriteString(c, "HT")
			time.Sleep(10 * time.Millisecond)
			io.WriteString(c, "TP/1.0 200 OK\r\n\r\n")
		case line == "PING\r\n":
			io.WriteString(c, "+PONG\r\n")
		case line == "QUOTE\t\"'\\\n":
			io.WriteString(c, "ok")
		case line == "SILENT\n":
			time.Sleep(time.Second)
		case line == "BIN\n":
			c.Write([]byte("220 \x00 binary"))
		default:
			io.WriteString(c, "220 mail.example.org ESMTP ready\r\n")
		}
	})
	rs := realServer(s.addr, 1)
	check := func(port uint16, c model.Check) error {
		c.Interval = 500 * time.Millisecond
		return probeOnce(t, service("x", port, c), rs, probeEnv{})
	}
	// Port 80 default: GET / HTTP/1.0, expect HTTP.
	wantErr(t, check(80, model.Check{}), "")
	mu.Lock()
	if got[len(got)-1] != "GET / HTTP/1.0\r\n" {
		t.Errorf("default send: server got %q", got[len(got)-1])
	}
	mu.Unlock()
	// Prefix and escapes.
	wantErr(t, check(6379, model.Check{Send: `PING\r\n`, Expect: `+PONG\r\n`}), "")
	wantErr(t, check(6379, model.Check{Send: `PING\r\n`, Expect: `+PONG!`}), `reply "+PONG\r" does not start with "+PONG!"`)
	wantErr(t, check(6379, model.Check{Send: `QUOTE\t\"\'\\\n`, Expect: "ok"}), "")
	// A reply shorter than expect.
	wantErr(t, check(6379, model.Check{Send: `PING\r\n`, Expect: `+PONG\r\n and more`}), "ended")
	// "*" accepts any byte; a silent server fails by timeout.
	wantErr(t, check(25, model.Check{Send: `HELO\n`, Expect: "*"}), "")
	wantErr(t, check(25, model.Check{Send: `SILENT\n`, Expect: "*"}), "no reply within 500ms")
	// Regex against the first read; a NUL ends the C string nanny matched.
	wantErr(t, check(25, model.Check{Send: `HELO\n`, Expect: "^220 [a-z.]+ ESMTP", UseRegex: true}), "")
	wantErr(t, check(25, model.Check{Send: `HELO\n`, Expect: "^250", UseRegex: true}), "does not match /^250/")
	wantErr(t, check(25, model.Check{Send: `BIN\n`, Expect: "binary", UseRegex: true}), "does not match")
	wantErr(t, check(25, model.Check{Send: `BIN\n`, Expect: "^220 $", UseRegex: true}), "")
	// Plain connect, and a refused one.
	wantErr(t, check(25, model.Check{}), "")
	dead := realServer(refusedAddr(t, "127.0.0.20"), 1)
	wantErr(t, probeOnce(t, service("x", 25, model.Check{Interval: time.Second}), dead, probeEnv{}), "connect refused")
}

func TestConnectTimeout(t *testing.T) {
	// A dialer that never connects stands in for a silent network.
	blackhole := func(ctx context.Context, network, addr string) (net.Conn, error) {
		<-ctx.Done()
		return nil, &net.OpError{Op: "dial", Net: network, Err: ctx.Err()}
	}
	rs := realServer(netip.MustParseAddrPort("198.51.100.2:80"), 1)
	err := probeOnce(t, service("x", 25, model.Check{Interval: 200 * time.Millisecond}), rs, probeEnv{dial: blackhole})
	wantErr(t, err, "connect timeout after 200ms")
}

// UDP: a reply is required; a wrong one or none fails; ICMP unreachable
// fails at once.
func TestUDPCheck(t *testing.T) {
	pc := testutil.ListenPacket(t, "udp", "127.0.0.21:0")
	testutil.ServePacket(t, pc, func(q []byte, reply func([]byte)) {
		switch string(q) {
		case "ping\n":
			reply([]byte("pong\n"))
		case "":
			reply([]byte("empty?"))
		case "wrong":
			reply([]byte("nope"))
		}
	})
	rs := realServer(netip.MustParseAddrPort(pc.LocalAddr().String()), 1)
	check := func(c model.Check) error {
		c.Interval = 300 * time.Millisecond
		svc := service("u", 5000, c)
		svc.Proto = model.ProtoUDP
		return probeOnce(t, svc, rs, probeEnv{})
	}
	wantErr(t, check(model.Check{Send: `ping\n`, Expect: "pong"}), "")
	wantErr(t, check(model.Check{}), "") // empty datagram, any answer
	wantErr(t, check(model.Check{Send: "wrong", Expect: "pong"}), `reply "nope" does not start with "pong"`)
	wantErr(t, check(model.Check{Send: "silence", Expect: "pong"}), "no reply within 300ms")
	wantErr(t, check(model.Check{Send: "wrong", Expect: "^no", UseRegex: true}), "")
	// Nothing listening: the kernel's port unreachable comes back at once.
	dead := refusedAddr(t, "127.0.0.21")
	svc := service("u", 5000, model.Check{Interval: 300 * time.Millisecond, Send: "x", Expect: "y"})
	svc.Proto = model.ProtoUDP
	wantErr(t, probeOnce(t, svc, realServer(dead, 1), probeEnv{}), "port unreachable")
}

// send_program: split on spaces, %h and %p replaced, no shell, killed on
// timeout; a non-zero exit or a timeout is a failure (unlike nanny).
func TestProgramCheck(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "check.sh")
	err := os.WriteFile(script, []byte(`#!/bin/sh
case "$1" in
echo) echo "$2:$3" ;;
fail) echo "$2:$3"; exit 1 ;;
sleep) sleep 5; echo late ;;
bg) sleep 5 & echo "$2:$3" ;;
quiet) exit 0 ;;
esac
`), 0o755)
	if err != nil {
		t.Fatal(err)
	}
	rs := realServer(netip.MustParseAddrPort("127.0.0.22:8080"), 1)
	check := func(prog, expect string) error {
		return probeOnce(t, service("p", 80, model.Check{Interval: 500 * time.Millisecond,
			SendProgram: prog, Expect: expect}), rs, probeEnv{})
	}
	wantErr(t, check(script+" echo %h %p", "127.0.0.22:8080"), "")
	wantErr(t, check(script+"  echo  %h  %p", "127.0.0.22:8080"), "") // strtok skips empty tokens
	wantErr(t, check(script+" echo %h:%p x", "%h:%p:x"), "")          // only whole tokens are replaced
	wantErr(t, check(script+" echo %h %p", "127.0.0.22:80"), `program printed "127.0.0.22:8080", expected "127.0.0.22:80"`)
	wantErr(t, check(script+" fail %h %p", "127.0.0.22:8080"), "program exited with status 1")
	start := time.Now()
	wantErr(t, check(script+" sleep", "late"), "program timed out after 500ms")
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("timed-out program held the check for %s", el)
	}
	wantErr(t, check(script+" quiet", ""), "")
	wantErr(t, check(filepath.Join(dir, "missing"), ""), "program:")
	// A program that leaves a child holding stdout is not waited for.
	start = time.Now()
	wantErr(t, check(script+" bg %h %p", "127.0.0.22:8080"), "")
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("background child held the check for %s", el)
	}
}

func TestHTTPCheck(t *testing.T) {
	var mu sync.Mutex
	var hosts []string
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hosts = append(hosts, r.Host)
		mu.Unlock()
		switch r.URL.Path {
		case "/health":
			fmt.Fprint(w, `{"status":"ok","db":"up"}`)
		case "/moved":
			http.Redirect(w, r, "/health", http.StatusMovedPermanently)
		case "/slow":
			time.Sleep(time.Second)
		default:
			http.Error(w, "nope", http.StatusServiceUnavailable)
		}
	})
	ts := httptest.NewUnstartedServer(h)
	ln := testutil.Listen(t, "tcp", "127.0.0.23:0")
	ts.Listener = ln
	ts.Start()
	t.Cleanup(ts.Close)
	rs := realServer(netip.MustParseAddrPort(ln.Addr().String()), 1)
	check := func(extra map[string]string) error {
		extra[model.KeyCheckType] = "http"
		return probeOnce(t, service("h", 80, model.Check{Interval: 500 * time.Millisecond, Extra: extra}), rs, probeEnv{})
	}
	wantErr(t, check(map[string]string{model.KeyCheckPath: "/health"}), "")
	wantErr(t, check(map[string]string{model.KeyCheckPath: "/health", model.KeyCheckBody: `"db":"up"`}), "")
	wantErr(t, check(map[string]string{model.KeyCheckPath: "/health", model.KeyCheckBody: `"db":"down"`}), `body does not match /"db":"down"/`)
	wantErr(t, check(map[string]string{model.KeyCheckPath: "/"}), "HTTP status 503, expected 200-399")
	wantErr(t, check(map[string]string{model.KeyCheckPath: "/", model.KeyCheckStatus: "200-299,503"}), "")
	wantErr(t, check(map[string]string{model.KeyCheckPath: "/moved", model.KeyCheckStatus: "200"}), "HTTP status 301, expected 200")
	wantErr(t, check(map[string]string{model.KeyCheckPath: "/moved"}), "")
	wantErr(t, check(map[string]string{model.KeyCheckPath: "/slow"}), "no HTTP response within 500ms")
	wantErr(t, check(map[string]string{model.KeyCheckPath: "/health", model.KeyCheckHost: "www.example.org"}), "")
	mu.Lock()
	if last := hosts[len(hosts)-1]; last != "www.example.org" {
		t.Errorf("Host %q", last)
	}
	mu.Unlock()
	ts.Close()
	wantErr(t, check(map[string]string{}), "connect refused")
}

func TestHTTPSCheck(t *testing.T) {
	var mu sync.Mutex
	var sni []string
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		sni = append(sni, r.TLS.ServerName)
		mu.Unlock()
		fmt.Fprint(w, "ok")
	}))
	ln := testutil.Listen(t, "tcp", "127.0.0.24:0")
	ts.Listener = ln
	ts.Config.ErrorLog = log.New(io.Discard, "", 0) // rejected handshakes are the point
	ts.StartTLS()
	t.Cleanup(ts.Close)
	rs := realServer(netip.MustParseAddrPort(ln.Addr().String()), 1)
	pool := x509.NewCertPool()
	pool.AddCert(ts.Certificate())
	check := func(extra map[string]string, env probeEnv) error {
		extra[model.KeyCheckType] = "https"
		return probeOnce(t, service("h", 443, model.Check{Interval: time.Second, Extra: extra}), rs, env)
	}
	// Verification off by default: a self-signed certificate passes.
	wantErr(t, check(map[string]string{model.KeyCheckSNI: "www.example.org"}, probeEnv{}), "")
	mu.Lock()
	if sni[len(sni)-1] != "www.example.org" {
		t.Errorf("SNI %q", sni[len(sni)-1])
	}
	mu.Unlock()
	// On: the system roots do not know it; the given roots do (the test
	// certificate is valid for 127.0.0.1 and example.com, not this SNI).
	wantErr(t, check(map[string]string{model.KeyCheckTLSVerify: "1"}, probeEnv{}), "TLS certificate not trusted")
	wantErr(t, check(map[string]string{model.KeyCheckTLSVerify: "1", model.KeyCheckSNI: "example.com"}, probeEnv{rootCAs: pool}), "")
	wantErr(t, check(map[string]string{model.KeyCheckTLSVerify: "1", model.KeyCheckSNI: "www.example.org"}, probeEnv{rootCAs: pool}), "TLS certificate not trusted")
	wantErr(t, check(map[string]string{model.KeyCheckTLSVerify: "0", model.KeyCheckSNI: "www.example.org"}, probeEnv{rootCAs: pool}), "")
}

// dnsServer answers every query with rcode.
func dnsServer(t *testing.T, host string, rcode *rcodeBox) netip.AddrPort {
	pc := testutil.ListenPacket(t, "udp", host+":0")
	testutil.ServePacket(t, pc, func(query []byte, reply func([]byte)) {
		var p dnsmessage.Parser
		h, err := p.Start(query)
		if err != nil {
			return
		}
		q, err := p.Question()
		if err != nil {
			return
		}
		rc := rcode.get()
		if rc < 0 {
			return // silent
		}
		b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true,
			RCode: dnsmessage.RCode(rc)})
		b.StartQuestions()
		b.Question(q)
		b.StartAnswers()
		if rc == 0 && q.Type == dnsmessage.TypeA {
			b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60},
				dnsmessage.AResource{A: [4]byte{192, 0, 2, 1}})
		}
		// A stray reply with another ID first: the check must skip it.
		stray := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID + 1, Response: true, RCode: dnsmessage.RCodeRefused})
		if m, err := stray.Finish(); err == nil {
			reply(m)
		}
		if m, err := b.Finish(); err == nil {
			reply(m)
		}
	})
	return netip.MustParseAddrPort(pc.LocalAddr().String())
}

type rcodeBox struct {
	mu sync.Mutex
	rc int
}

func (b *rcodeBox) get() int   { b.mu.Lock(); defer b.mu.Unlock(); return b.rc }
func (b *rcodeBox) set(rc int) { b.mu.Lock(); b.rc = rc; b.mu.Unlock() }

func TestDNSCheck(t *testing.T) {
	rc := &rcodeBox{}
	addr := dnsServer(t, "127.0.0.25", rc)
	rs := realServer(addr, 1)
	check := func(extra map[string]string) error {
		extra[model.KeyCheckType] = "dns"
		svc := service("d", 53, model.Check{Interval: 300 * time.Millisecond, Extra: extra})
		svc.Proto = model.ProtoUDP
		return probeOnce(t, svc, rs, probeEnv{})
	}
	wantErr(t, check(map[string]string{model.KeyDNSName: "www.example.org"}), "")
	wantErr(t, check(map[string]string{model.KeyDNSName: "www.example.org", model.KeyDNSType: "AAAA"}), "")
	rc.set(2)
	wantErr(t, check(map[string]string{model.KeyDNSName: "www.example.org"}), "DNS rcode SERVFAIL, expected NOERROR")
	rc.set(3)
	wantErr(t, check(map[string]string{model.KeyDNSName: "nothing.example.org", model.KeyDNSRcode: "NXDOMAIN"}), "")
	rc.set(-1)
	wantErr(t, check(map[string]string{model.KeyDNSName: "www.example.org"}), "no DNS reply within 300ms")
	dead := refusedAddr(t, "127.0.0.25")
	svc := service("d", 53, model.Check{Interval: 300 * time.Millisecond, Extra: map[string]string{model.KeyCheckType: "dns"}})
	wantErr(t, probeOnce(t, svc, realServer(dead, 1), probeEnv{}), "port unreachable")
}

// The lean dialer: timeouts, refusals and cancellation.
func TestFastDial(t *testing.T) {
	hole := blackholeAddr(t, "127.0.0.26")
	rs := realServer(hole, 1)
	start := time.Now()
	err := probeOnce(t, service("x", 25, model.Check{Interval: 200 * time.Millisecond}), rs, probeEnv{})
	wantErr(t, err, "connect timeout after 200ms")
	if el := time.Since(start); el < 150*time.Millisecond || el > time.Second {
		t.Errorf("timeout took %s", el)
	}

	// Cancellation interrupts a connect at once.
	sp := buildSpec(&model.Service{Port: 25, Check: model.Check{Interval: 5 * time.Second}}, rs)
	p := newProber(sp.probe, sp.addr, sp.port, probeEnv{})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start = time.Now()
	err = p.check(ctx, time.Now().Add(5*time.Second))
	if el := time.Since(start); el > time.Second {
		t.Errorf("cancelled check took %s", el)
	}
	wantErr(t, err, "cancelled")

	// As a net.Conn for HTTP: addresses and deadlines.
	s := newServer(t, "127.0.0.26", reply("hello"))
	c, err := fastDial(context.Background(), "tcp", s.addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.RemoteAddr().String() != s.addr.String() || c.LocalAddr() == nil {
		t.Errorf("addresses %v %v", c.LocalAddr(), c.RemoteAddr())
	}
	c.SetReadDeadline(time.Now().Add(time.Second))
	buf := make([]byte, 5)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hello" {
		t.Fatalf("read %q %v", buf, err)
	}
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := c.Read(buf); !isTimeout(err) {
		t.Errorf("read past deadline: %v", err)
	}
}
