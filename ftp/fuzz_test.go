package ftp

import (
	"bytes"
	"net/netip"
	"testing"
)

// FuzzFilter feeds arbitrary streams, cut at arbitrary points, through both
// directions. It checks that nothing panics, that the output does not
// depend on how the stream was cut, that a filter which rewrites nothing is
// the identity, that a filter never holds more than MaxLine bytes, and that
// every line that is not a PASV, EPSV, PORT or EPRT line passes unchanged
// while every one that is carries the endpoint the rewrite gave.
func FuzzFilter(f *testing.F) {
	for _, s := range []string{
		"227 Entering Passive Mode (198,51,100,11,39,16).\r\n",
		"229 Entering Extended Passive Mode (|||10007|)\r\n",
		"PORT 203,0,113,2,200,10\r\nEPRT |2|2001:db8::2|51210|\r\n",
		"220 hi\n227 =1,2,3,4,5,6\n234 TLS\n227 (1,2,3,4,5,6)\n",
		"RETR file\r\nSTOR x\r\n\x16\x03\x01\x00",
		"227 (999,2,3,4,5,6)\r\n229 (|||-1|)\r\n",
		"EPRT :1:203.0.113.2:51210:\r\nEPRT .2.2001:db8::2.1.\r\n",
	} {
		f.Add([]byte(s), []byte{7, 3})
	}
	f.Add([]byte("227 "+string(bytes.Repeat([]byte{'x'}, MaxLine-17))+"1,2,3,4,5,6\n"), []byte{0, 1, 2, 200})
	f.Fuzz(func(t *testing.T, in, steps []byte) {
		var cuts []int
		for i, at := 0, 0; len(steps) > 0 && at < len(in) && i < 64; i++ {
			at += int(steps[i%len(steps)])
			cuts = append(cuts, min(at, len(in)))
		}
		cmd := func(m Match) (netip.AddrPort, bool) { return router, true }
		rep := func(m Match) (netip.AddrPort, bool) { return vip, true }
		for _, replies := range []bool{false, true} {
			pick := func(s, c *Filter) *Filter {
				if replies {
					return c
				}
				return s
			}
			s, c := NewPair(nil, nil)
			if out := feedBounded(t, pick(s, c), in, cuts); !bytes.Equal(out, in) {
				t.Fatalf("identity filter changed the stream:\n%q\n%q", in, out)
			}
			s, c = NewPair(cmd, rep)
			whole := feedBounded(t, pick(s, c), in, nil)
			s, c = NewPair(cmd, rep)
			cut := feedBounded(t, pick(s, c), in, cuts)
			if !bytes.Equal(whole, cut) {
				t.Fatalf("output depends on the cuts %v:\n%q\n%q", cuts, whole, cut)
			}
			to := router
			if replies {
				to = vip
			}
			checkLines(t, in, whole, replies, to)
		}
	})
}

// feedBounded is feed, checking after every piece that the filter holds
// no more than MaxLine bytes back.
func feedBounded(t *testing.T, f *Filter, in []byte, cuts []int) []byte {
	t.Helper()
	var out []byte
	prev := 0
	for _, c := range append(cuts, len(in)) {
		if c < prev {
			continue
		}
		out = f.Feed(out, in[prev:c])
		prev = c
		if f.Held() > MaxLine {
			t.Fatalf("holding %d bytes", f.Held())
		}
	}
	return f.Flush(out)
}

// checkLines walks input and output line by line: a line the parser does
// not recognise must come out identical; a recognised one must come out as
// its Replace with to, or unchanged where it cannot express to. After a
// 234 reply everything is identical.
func checkLines(t *testing.T, in, out []byte, replies bool, to netip.AddrPort) {
	tls := false
	for len(in) > 0 {
		i := bytes.IndexByte(in, '\n')
		line := in
		if i >= 0 {
			line = in[:i+1]
		}
		in = in[len(line):]
		var m Match
		ok := false
		if !tls && line[len(line)-1] == '\n' {
			m, ok = parse(line, replies)
		}
		want := line
		if ok {
			if nl, fits := m.Replace(to); fits {
				want = nl
			}
		} else if replies && len(line) >= 4 && string(line[:4]) == "234 " && line[len(line)-1] == '\n' {
			tls = true
		}
		if !bytes.HasPrefix(out, want) {
			t.Fatalf("line %q should come out as %q; output continues %q", line, want, out)
		}
		out = out[len(want):]
	}
	if len(out) != 0 {
		t.Fatalf("extra output %q", out)
	}
}

func parse(line []byte, replies bool) (Match, bool) {
	if replies {
		return ParseReply(line)
	}
	return ParseCommand(line)
}

// FuzzParse gives the parsers arbitrary lines, and Replace arbitrary
// endpoints. A recognised line rewritten keeps every byte around its
// endpoint, and parses back as the same kind carrying exactly the endpoint
// given (EPSV: its port); where the line cannot carry it, Replace says so
// rather than writing something else.
func FuzzParse(f *testing.F) {
	v4 := []byte{198, 51, 100, 1}
	v6 := []byte{0x20, 0x01, 0x0d, 0xb8, 15: 1}
	for _, s := range []string{
		"227 Entering Passive Mode (198,51,100,11,39,16).\r\n",
		"227 =198,51,100,11,0,21\r\n",
		"227 1,2,3,4,5,999,1,2,3,4,5,6\n",
		"229 Entering Extended Passive Mode (|||10007|)\r\n",
		"229 Extended (!!!21!)\n",
		"PORT 203,0,113,2,200,10\r\n",
		"port   1,2,3,4,5,6 \n",
		"EPRT |1|203.0.113.2|51210|\r\n",
		"EPRT |2|2001:db8::2|51210|\r\n",
		"eprt !1!203.0.113.2!51210!\n",
		// RFC 2428 lets the client pick any delimiter; these two cannot
		// carry the other family's address.
		"EPRT :1:203.0.113.2:51210:\r\n",
		"EPRT .2.2001:db8::2.51210.\r\n",
	} {
		f.Add([]byte(s), v4, uint16(40000))
		f.Add([]byte(s), v6, uint16(1))
	}
	f.Fuzz(func(t *testing.T, line, addr []byte, port uint16) {
		a, _ := netip.AddrFromSlice(addr)
		ap := netip.AddrPortFrom(a, port)
		for _, replies := range []bool{false, true} {
			m, ok := parse(line, replies)
			if !ok {
				continue
			}
			checkMatch(t, line, m, replies)
			// Putting back what was there gives the line back, up to the
			// spelling of the numbers.
			if nl, fits := m.Replace(m.Addr); m.Kind != EPSV && !fits {
				t.Fatalf("%q cannot carry its own endpoint %v", line, m.Addr)
			} else if fits {
				if back, _ := parse(nl, replies); back.Addr != m.Addr && len(nl) <= MaxLine {
					t.Fatalf("%q with its own endpoint: %q", line, nl)
				}
			}
			nl, fits := m.Replace(ap)
			if !fits {
				if canCarry(m, ap) {
					t.Fatalf("%q refused %v", line, ap)
				}
				continue
			}
			if !bytes.HasPrefix(nl, line[:m.start]) || !bytes.HasSuffix(nl, line[m.end:]) {
				t.Fatalf("%q rewritten to %q: more than the endpoint changed", line, nl)
			}
			if len(nl) > MaxLine {
				continue // too long to be recognised again, and so rewritten
			}
			back, ok := parse(nl, replies)
			if !ok || back.Kind != m.Kind {
				t.Fatalf("%q rewritten to %q, which does not parse back", line, nl)
			}
			want := netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
			if m.Kind == EPSV {
				want = netip.AddrPortFrom(netip.Addr{}, ap.Port())
			}
			if back.Addr != want {
				t.Fatalf("%q rewritten for %v to %q, which announces %v", line, ap, nl, back.Addr)
			}
		}
	})
}

// checkMatch checks what a parser reports against the line itself.
func checkMatch(t *testing.T, line []byte, m Match, replies bool) {
	t.Helper()
	if replies != (m.Kind == PASV || m.Kind == EPSV) || m.start < 0 || m.start > m.end || m.end > len(line) {
		t.Fatalf("%q: kind %v, endpoint at [%d:%d]", line, m.Kind, m.start, m.end)
	}
	switch m.Kind {
	case PASV, PORT:
		if !m.Addr.Addr().Is4() {
			t.Fatalf("%q: %v", line, m.Addr)
		}
	case EPSV:
		if m.Addr.Addr().IsValid() {
			t.Fatalf("%q: EPSV with an address %v", line, m.Addr)
		}
	case EPRT:
		if a := m.Addr.Addr(); !a.IsValid() || a.Zone() != "" {
			t.Fatalf("%q: %v", line, m.Addr)
		}
	}
}

// canCarry reports whether the line m matched can announce ap at all:
// PASV and PORT hold IPv4 only, EPRT needs an address whose text does not
// hold the line's delimiter.
func canCarry(m Match, ap netip.AddrPort) bool {
	a := ap.Addr().Unmap()
	switch m.Kind {
	case PASV, PORT:
		return a.Is4()
	case EPSV:
		return true
	case EPRT:
		return a.IsValid() && !bytes.ContainsRune([]byte(a.WithZone("").String()), rune(m.delim))
	}
	return false
}
