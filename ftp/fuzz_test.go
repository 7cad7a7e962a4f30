package ftp

import (
	"bytes"
	"net/netip"
	"testing"
)

// FuzzFilter feeds arbitrary streams, cut at arbitrary points, through both
// directions. It checks that nothing panics, that the output does not
// depend on how the stream was cut, that a filter which rewrites nothing is
// the identity, and that every line that is not a PASV, EPSV, PORT or EPRT
// line passes unchanged.
func FuzzFilter(f *testing.F) {
	for _, s := range []string{
		"227 Entering Passive Mode (198,51,100,11,39,16).\r\n",
		"229 Entering Extended Passive Mode (|||10007|)\r\n",
		"PORT 203,0,113,2,200,10\r\nEPRT |2|2001:db8::2|51210|\r\n",
		"220 hi\n227 =1,2,3,4,5,6\n234 TLS\n227 (1,2,3,4,5,6)\n",
		"RETR file\r\nSTOR x\r\n\x16\x03\x01\x00",
		"227 (999,2,3,4,5,6)\r\n229 (|||-1|)\r\n",
	} {
		f.Add([]byte(s), uint16(7), uint16(3))
	}
	f.Fuzz(func(t *testing.T, in []byte, cut1, cut2 uint16) {
		cuts := []int{int(cut1) % (len(in) + 1), int(cut2) % (len(in) + 1)}
		if cuts[0] > cuts[1] {
			cuts[0], cuts[1] = cuts[1], cuts[0]
		}
		six := netip.MustParseAddrPort("198.51.100.1:65535")
		cmd := func(m Match) (netip.AddrPort, bool) { return six, true }
		rep := func(m Match) (netip.AddrPort, bool) { return vip, true }
		for _, replies := range []bool{false, true} {
			pick := func(s, c *Filter) *Filter {
				if replies {
					return c
				}
				return s
			}
			s, c := NewPair(nil, nil)
			if out := feed(pick(s, c), in, cuts); !bytes.Equal(out, in) {
				t.Fatalf("identity filter changed the stream:\n%q\n%q", in, out)
			}
			s, c = NewPair(cmd, rep)
			whole := feed(pick(s, c), in, nil)
			s, c = NewPair(cmd, rep)
			cut := feed(pick(s, c), in, cuts)
			if !bytes.Equal(whole, cut) {
				t.Fatalf("output depends on the cuts %v:\n%q\n%q", cuts, whole, cut)
			}
			checkLines(t, in, whole, replies)
		}
	})
}

// checkLines walks input and output line by line: a line the parser does
// not recognise must come out identical; a recognised one must parse back
// to the rewritten endpoint. After a 234 reply everything is identical.
func checkLines(t *testing.T, in, out []byte, replies bool) {
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
			if replies {
				m, ok = ParseReply(line)
			} else {
				m, ok = ParseCommand(line)
			}
		}
		if !ok {
			if !bytes.HasPrefix(out, line) {
				t.Fatalf("line %q not passed unchanged; output continues %q", line, out)
			}
			out = out[len(line):]
			if replies && len(line) >= 4 && string(line[:4]) == "234 " && line[len(line)-1] == '\n' {
				tls = true
			}
			continue
		}
		j := bytes.IndexByte(out, '\n')
		if j < 0 {
			t.Fatalf("rewritten line of %q lost its ending", line)
		}
		nl := out[:j+1]
		out = out[j+1:]
		var back Match
		var ok2 bool
		if replies {
			back, ok2 = ParseReply(nl)
		} else {
			back, ok2 = ParseCommand(nl)
		}
		if !ok2 || back.Kind != m.Kind {
			t.Fatalf("%q rewritten to %q, which does not parse back", line, nl)
		}
		if _, fits := m.Replace(vip); fits && replies && back.Addr.Port() != vip.Port() {
			t.Fatalf("%q rewritten to %q", line, nl)
		}
	}
	if len(out) != 0 {
		t.Fatalf("extra output %q", out)
	}
}
