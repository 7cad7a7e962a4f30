package ftp

import (
	"bytes"
	"net/netip"
	"testing"
)

var (
	vip    = netip.MustParseAddrPort("203.0.113.100:10050")
	router = netip.MustParseAddrPort("198.51.100.1:40000")
)

func TestParseReply(t *testing.T) {
	for _, c := range []struct {
		in, want string
		kind     Kind
		addr     string
	}{
		{"227 Entering Passive Mode (198,51,100,11,39,16).\r\n", "227 Entering Passive Mode (203,0,113,100,39,66).\r\n", PASV, "198.51.100.11:10000"},
		{"227 Entering Passive Mode (198,51,100,11,39,16)\n", "227 Entering Passive Mode (203,0,113,100,39,66)\n", PASV, "198.51.100.11:10000"},
		{"227 =198,51,100,11,0,21\r\n", "227 =203,0,113,100,39,66\r\n", PASV, "198.51.100.11:21"},
		{"227 Mode 7 (198,51,100,11,39,16)\r\n", "227 Mode 7 (203,0,113,100,39,66)\r\n", PASV, "198.51.100.11:10000"},
		{"229 Entering Extended Passive Mode (|||10007|)\r\n", "229 Entering Extended Passive Mode (|||10050|)\r\n", EPSV, ":10007"},
		{"229 Extended (!!!21!)\n", "229 Extended (!!!10050!)\n", EPSV, ":21"},
	} {
		m, ok := ParseReply([]byte(c.in))
		if !ok || m.Kind != c.kind {
			t.Errorf("%q: %v %v", c.in, m.Kind, ok)
			continue
		}
		if m.Kind == PASV && m.Addr.String() != c.addr || m.Kind == EPSV && m.Addr.Port() != netip.MustParseAddrPort("0.0.0.0"+c.addr).Port() {
			t.Errorf("%q: address %v, want %s", c.in, m.Addr, c.addr)
		}
		wantRewritten(t, c.in, m, vip, c.want)
	}
	wantUnrecognised(t, ParseReply,
		"227-Entering Passive Mode (198,51,100,11,39,16)\r\n",
		"227 Entering Passive Mode (198,51,100,11,39)\r\n",
		"227 Entering Passive Mode (198,51,100,256,39,16)\r\n",
		"227 Entering Passive Mode (198,51,100,11,39,016789)\r\n",
		"229 Entering Extended Passive Mode (||10007|)\r\n",
		"229 Entering Extended Passive Mode (|||70000|)\r\n",
		"229 Entering Extended Passive Mode (|||10007)\r\n",
		"230 Login successful.\r\n",
		"22")
}

// wantRewritten checks that m, parsed from in, is rewritten to want for
// the address to.
func wantRewritten(t *testing.T, in string, m Match, to netip.AddrPort, want string) {
	t.Helper()
	if out, ok := m.Replace(to); !ok || string(out) != want {
		t.Errorf("%q rewritten to %q, want %q", in, out, want)
	}
}

// wantUnrecognised checks that parse recognises none of ins.
func wantUnrecognised(t *testing.T, parse func([]byte) (Match, bool), ins ...string) {
	t.Helper()
	for _, in := range ins {
		if m, ok := parse([]byte(in)); ok {
			t.Errorf("%q recognised as %v %v", in, m.Kind, m.Addr)
		}
	}
}

func TestParseCommand(t *testing.T) {
	for _, c := range []struct {
		in, want, addr string
		kind           Kind
		to             netip.AddrPort
	}{
		{"PORT 203,0,113,2,200,10\r\n", "PORT 198,51,100,1,156,64\r\n", "203.0.113.2:51210", PORT, router},
		{"port 203,0,113,2,200,10\n", "port 198,51,100,1,156,64\n", "203.0.113.2:51210", PORT, router},
		{"EPRT |1|203.0.113.2|51210|\r\n", "EPRT |1|198.51.100.1|40000|\r\n", "203.0.113.2:51210", EPRT, router},
		{"EPRT |2|2001:db8::2|51210|\r\n", "EPRT |1|198.51.100.1|40000|\r\n", "[2001:db8::2]:51210", EPRT, router},
		{"eprt !1!203.0.113.2!51210!\n", "eprt !2!2001:db8::1!40000!\n", "203.0.113.2:51210", EPRT, netip.MustParseAddrPort("[2001:db8::1]:40000")},
	} {
		m, ok := ParseCommand([]byte(c.in))
		if !ok || m.Kind != c.kind || m.Addr.String() != c.addr {
			t.Errorf("%q: %v %v %v", c.in, m.Kind, m.Addr, ok)
			continue
		}
		wantRewritten(t, c.in, m, c.to, c.want)
	}
	wantUnrecognised(t, ParseCommand,
		"PORT 203,0,113,2,200\r\n",
		"PORT 203,0,113,2,200,10 x\r\n",
		"PORTS 203,0,113,2,200,10\r\n",
		"EPRT |3|203.0.113.2|51210|\r\n",
		"EPRT |1|2001:db8::2|51210|\r\n",
		"EPRT |2|203.0.113.2|51210|\r\n",
		"EPRT |1|203.0.113.2|99999|\r\n",
		"EPRT |1|203.0.113.2|51210\r\n",
		"RETR PORT 1,2,3,4,5,6\r\n")
	// PASV and PORT carry IPv4 only.
	m, _ := ParseCommand([]byte("PORT 203,0,113,2,200,10\r\n"))
	if _, ok := m.Replace(netip.MustParseAddrPort("[2001:db8::1]:1")); ok {
		t.Error("PORT rewritten to an IPv6 address")
	}
}

// feed runs input through f in pieces cut at cuts.
func feed(f *Filter, in []byte, cuts []int) []byte {
	var out []byte
	prev := 0
	for _, c := range cuts {
		if c < prev || c > len(in) {
			continue
		}
		out = f.Feed(out, in[prev:c])
		prev = c
	}
	out = f.Feed(out, in[prev:])
	return f.Flush(out)
}

func toVIP(m Match) (netip.AddrPort, bool) { return vip, true }

func TestFilterSplit(t *testing.T) {
	in := []byte("220 (vsFTPd 3.0.3)\r\n230 Login successful.\r\n227 Entering Passive Mode (198,51,100,11,39,16).\r\n" +
		"150 Opening BINARY mode data connection.\n229 Entering Extended Passive Mode (|||10007|)\r\n226 Done\r\n227 unfinished (1,2,3,4,5,6)")
	want := "220 (vsFTPd 3.0.3)\r\n230 Login successful.\r\n227 Entering Passive Mode (203,0,113,100,39,66).\r\n" +
		"150 Opening BINARY mode data connection.\n229 Entering Extended Passive Mode (|||10050|)\r\n226 Done\r\n227 unfinished (1,2,3,4,5,6)"
	for step := 1; step <= len(in); step++ {
		var cuts []int
		for c := step; c < len(in); c += step {
			cuts = append(cuts, c)
		}
		_, f := NewPair(nil, toVIP)
		if got := feed(f, in, cuts); string(got) != want {
			t.Fatalf("pieces of %d:\n%q\nwant\n%q", step, got, want)
		}
	}
}

func TestFilterDoesNotHoldOtherTraffic(t *testing.T) {
	_, f := NewPair(nil, toVIP)
	for _, p := range []string{"150 Here comes", " the listing", "\r\n2", "26 Directory send OK.\r\n", "22"} {
		out := f.Feed(nil, []byte(p))
		if p == "22" {
			if len(out) != 0 || f.Held() != 2 {
				t.Errorf("%q: out %q held %d", p, out, f.Held())
			}
			continue
		}
		if string(out) != p && !(p == "\r\n2" && string(out) == "\r\n") && !(p[0] == '2' && string(out) == "2"+p) {
			t.Errorf("%q: out %q", p, out)
		}
	}
}

func TestFilterTLS(t *testing.T) {
	toServer, toClient := NewPair(func(Match) (netip.AddrPort, bool) { return router, true }, toVIP)
	out := toClient.Feed(nil, []byte("234 Proceed with negotiation.\r\n227 (1,2,3,4,5,6)\r\n"))
	if string(out) != "234 Proceed with negotiation.\r\n227 (1,2,3,4,5,6)\r\n" {
		t.Errorf("after 234: %q", out)
	}
	if out := toServer.Feed(nil, []byte("PORT 1,2,3,4,5,6\r\nP")); string(out) != "PORT 1,2,3,4,5,6\r\nP" {
		t.Errorf("commands after 234: %q", out)
	}
}

func TestFilterLongLines(t *testing.T) {
	long := "227 " + string(bytes.Repeat([]byte{' '}, MaxLine)) + "(1,2,3,4,5,6)\r\n"
	_, f := NewPair(nil, toVIP)
	if out := feed(f, []byte(long), []int{10, 100, 600}); string(out) != long {
		t.Errorf("long line changed: %q", out)
	}
}

// A refused passive reply becomes a 425 with the reply's own line ending;
// a refused command passes unchanged.
func TestFilterRefusal(t *testing.T) {
	refuse := func(Match) (netip.AddrPort, bool) { return netip.AddrPort{}, true }
	toServer, toClient := NewPair(refuse, refuse)
	in := "227 Entering Passive Mode (198,51,100,11,39,66).\r\n229 Entering Extended Passive Mode (|||10050|)\n226 Done\r\n"
	want := Refusal + "\r\n" + Refusal + "\n226 Done\r\n"
	if got := feed(toClient, []byte(in), []int{5, 60}); string(got) != want {
		t.Errorf("replies: %q, want %q", got, want)
	}
	if got := toServer.Feed(nil, []byte("PORT 1,2,3,4,5,6\r\n")); string(got) != "PORT 1,2,3,4,5,6\r\n" {
		t.Errorf("command: %q", got)
	}
}
