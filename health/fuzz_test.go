package health

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/govs/govs/internal/fuzzcheck"
	"github.com/govs/govs/model"
)

// FuzzExpect runs nanny's send/expect check against a server that answers
// with arbitrary bytes in arbitrary pieces, over an in-memory pipe. The
// verdict must be the one nanny's rules give: expect "" passes, "*" wants
// any byte, a regex is matched against the first read (254 bytes at most,
// up to a NUL), a UDP reply is one datagram that must start with expect,
// and otherwise the reply must start with expect. A server that keeps the
// connection open without finishing the reply fails the check by its
// interval; the check never outlives it by much.
func FuzzExpect(f *testing.F) {
	for _, c := range []struct {
		send, expect string
		regex, udp   bool
		reply        string
	}{
		{`GET / HTTP/1.0\r\n\r\n`, "HTTP", false, false, "HTTP/1.0 200 OK\r\n"},
		{"", "220", false, false, "220 mail"},
		{"", "220", false, false, "22"},
		{"PING", "*", false, false, "x"},
		{"", "^(OK|UP)", true, false, "UP and running"},
		{"", "ok$", true, false, "ok\x00trailing"},
		{"", "(a+)+$", true, false, strings.Repeat("a", 300) + "!"},
		{"", "[", true, false, "["},
		{"", "a{1001}", true, false, "a"},
		{"q", "", false, true, "anything"},
		{"", "^(OK|UP)", true, true, "UP and running"},
		{`\x`, `\\n`, false, true, "\\n"},
	} {
		f.Add(c.send, c.expect, c.regex, c.udp, []byte(c.reply), []byte{3, 1}, false)
		f.Add(c.send, c.expect, c.regex, c.udp, []byte(c.reply), []byte{}, true)
	}
	f.Fuzz(func(t *testing.T, send, expect string, regex, udp bool, reply, pieces []byte, hold bool) {
		interval := 5 * time.Second
		if hold {
			interval = 30 * time.Millisecond
		}
		typ := "tcp"
		if udp {
			typ = "udp"
		}
		svc := model.Service{Name: "x", Active: true, Proto: model.ProtoTCP, VIP: vip, Port: 25,
			Check: model.Check{Send: send, Expect: expect, UseRegex: regex, Interval: interval,
				Extra: map[string]string{model.KeyCheckType: typ}}}
		rs := model.RealServer{Name: "a", Addr: netip.MustParseAddr("198.51.100.2"), Port: 25, Weight: 1, Active: true}
		sp := buildSpec(&svc, rs)
		if len(sp.problems) > 0 {
			t.Fatalf("problems: %v", sp.problems)
		}
		chunks := cut(reply, pieces)
		served := make(chan struct{})
		dialed := false
		dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
			dialed = true
			c, s := net.Pipe()
			go func() {
				defer close(served)
				answer(s, sp.probe, chunks, hold)
			}()
			return c, nil
		}
		var err error
		start := time.Now()
		fuzzcheck.Within(t, interval+10*time.Second, func() {
			p := newProber(sp.probe, sp.addr, sp.port, probeEnv{dial: dial})
			err = p.check(context.Background(), time.Now().Add(interval))
		})
		if el := time.Since(start); el > interval+2*time.Second {
			t.Fatalf("check took %s with an interval of %s", el, interval)
		}
		if dialed {
			select {
			case <-served:
			case <-time.After(5 * time.Second):
				t.Fatal("the server is still blocked after the check ended")
			}
		}
		pass, decided := nannyVerdict(sp.probe, chunks, hold)
		switch {
		case !decided && err == nil:
			t.Fatalf("passed on %q, which does not finish what %q needs", reply, sp.probe.expect)
		case decided && pass && err != nil && !(hold && timedOut(err)):
			t.Fatalf("failed on %q for %q: %v", reply, sp.probe.expect, err)
		case decided && !pass && err == nil:
			t.Fatalf("passed on %q for %q", reply, sp.probe.expect)
		}
	})
}

// cut splits reply into non-empty pieces of the sizes in pieces, in turn;
// the rest is one piece.
func cut(reply, pieces []byte) [][]byte {
	var out [][]byte
	for i := 0; len(reply) > 0; i++ {
		n := len(reply)
		if i < len(pieces) && pieces[i] > 0 {
			n = min(n, int(pieces[i]))
		}
		out = append(out, reply[:n])
		reply = reply[n:]
	}
	return out
}

// answer is the real server: it takes what the check sends, writes the
// reply piece by piece, and closes, or with hold waits for the check to
// hang up.
func answer(s net.Conn, p *probeSpec, chunks [][]byte, hold bool) {
	defer s.Close()
	if p.send != "" || p.kind == kindUDP {
		// A pipe write, even of nothing (UDP's empty datagram), waits for
		// a read.
		buf := make([]byte, max(1, len(p.send)))
		var err error
		if p.send == "" {
			_, err = s.Read(buf)
		} else {
			_, err = io.ReadFull(s, buf)
		}
		if err != nil {
			return
		}
	}
	for _, c := range chunks {
		if _, err := s.Write(c); err != nil {
			return
		}
	}
	if hold {
		_, _ = s.Read(make([]byte, 1))
	}
}

// nannyVerdict is the expected outcome of a check that got chunks:
// decided is false when the check needs more than the server sent and so
// must fail, by its end or by its interval.
func nannyVerdict(p *probeSpec, chunks [][]byte, hold bool) (pass, decided bool) {
	var reply []byte
	for _, c := range chunks {
		reply = append(reply, c...)
	}
	var first []byte
	if len(chunks) > 0 {
		first = chunks[0]
	}
	expect := []byte(p.expect)
	if p.regex && p.expect != "" {
		re, err := compileERE(p.expect)
		if err != nil {
			return false, true
		}
		if len(first) == 0 {
			return false, !hold
		}
		got := first[:min(len(first), 254)]
		if i := bytes.IndexByte(got, 0); i >= 0 {
			got = got[:i]
		}
		return re.Match(got), true
	}
	if p.kind == kindUDP {
		if len(first) == 0 {
			return false, !hold
		}
		return p.expect == "" || p.expect == "*" || bytes.HasPrefix(first, expect), true
	}
	switch {
	case p.expect == "":
		return true, true
	case p.expect == "*":
		return len(reply) > 0, len(reply) > 0 || !hold
	case bytes.HasPrefix(reply, expect):
		return true, true
	case bytes.HasPrefix(expect, reply):
		return false, !hold // a start of expect: the rest may still come
	}
	return false, true
}

// timedOut reports whether a check failed for want of time, which a
// loaded machine may cause within a short interval.
func timedOut(err error) bool {
	s := err.Error()
	return strings.Contains(s, "within") || strings.Contains(s, "cut short") || strings.Contains(s, "timeout")
}

// FuzzUnescape checks nanny's escapes against their definition: escaping
// any string and unescaping it gives it back, unescaping never lengthens,
// and a string without a backslash is its own translation.
func FuzzUnescape(f *testing.F) {
	for _, s := range []string{`GET / HTTP/1.0\r\n\r\n`, `a\`, `\\\"\'\q`, "tab\there", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u := unescape(s)
		if len(u) > len(s) {
			t.Fatalf("unescape(%q) = %q is longer", s, u)
		}
		if !strings.Contains(s, `\`) && u != s {
			t.Fatalf("unescape(%q) = %q", s, u)
		}
		e := strings.NewReplacer(`\`, `\\`, "\n", `\n`, "\r", `\r`, "\t", `\t`).Replace(s)
		if got := unescape(e); got != s {
			t.Fatalf("unescape(%q) = %q, want %q", e, got, s)
		}
	})
}
