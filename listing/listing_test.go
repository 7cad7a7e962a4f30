package listing

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/govs/govs/table"
)

// golden strips the "|" that marks where a line ends, so that ipvsadm's
// trailing blanks are visible in the expected text.
func golden(s string) string {
	s = strings.TrimPrefix(s, "\n")
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSuffix(l, "|")
	}
	return strings.Join(lines, "\n")
}

func check(t *testing.T, got, want string) {
	t.Helper()
	if got == want {
		return
	}
	gl, wl := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := range max(len(gl), len(wl)) {
		var g, w string
		if i < len(gl) {
			g = gl[i]
		}
		if i < len(wl) {
			w = wl[i]
		}
		if g != w {
			t.Errorf("line %d:\n got %q\nwant %q", i+1, g, w)
		}
	}
}

func render(t *testing.T, snap table.Snapshot, o Options) string {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, snap, o); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// fixture is a table in deliberately unsorted order, covering TCP, UDP,
// IPv6, IPv4 and IPv6 marks, persistence masks, scheduler flags, one-packet
// scheduling, and real servers in every state.
func fixture() table.Snapshot {
	return table.Snapshot{
		TCPTimeout: 900, TCPFinTimeout: 120, UDPTimeout: 300,
		Services: []table.ServiceStatus{
			{
				Name: "fwm", FWMark: 80, Family: 4, Proto: "TCP", VIP: "192.0.2.1", Port: 80,
				Scheduler: "rr", Persistent: 300, PrefixLen: 32,
				Dests: []table.DestStatus{
					{Addr: "198.51.100.2", Port: 80, Forward: "Route", Weight: 1, ActiveConns: 2, State: "up"},
				},
			},
			{
				Name: "v6", Family: 6, Proto: "TCP", VIP: "2001:db8::1", Port: 443,
				Scheduler: "wrr", Persistent: 600, PrefixLen: 64,
				Dests: []table.DestStatus{
					{Addr: "2001:db8::10", Port: 443, Forward: "Tunnel", Weight: 10, ActiveConns: 5, InactiveConns: 7, PersistConns: 4, State: "up"},
					{Addr: "2001:db8::9", Port: 443, Forward: "Tunnel", Weight: 0, State: "draining", Reason: "operator"},
				},
			},
			{
				Name: "dns", Family: 4, Proto: "UDP", VIP: "192.0.2.1", Port: 53,
				Scheduler: "sh", SchedFlags: "sh-fallback,sh-port", OnePacket: true,
				Dests: []table.DestStatus{
					{Addr: "198.51.100.5", Port: 53, Forward: "Masq", Weight: 5, InactiveConns: 120, State: "up"},
				},
			},
			{
				Name: "http", Family: 4, Proto: "TCP", VIP: "192.0.2.1", Port: 80,
				Scheduler: "wlc", Persistent: 600, PrefixLen: 24,
				Stats: table.Stats{Conns: 1234, InPkts: 99_999_999, OutPkts: 123_456_789,
					InBytes: 98_765_432_100, OutBytes: 12_345_678_901_234},
				Rates: table.Rates{CPS: 12, InPPS: 345, OutPPS: 123_456_789, InBPS: 100_000_000, OutBPS: 999_999_999},
				Dests: []table.DestStatus{
					{Addr: "198.51.100.12", Port: 80, Forward: "Route", Weight: 1, ActiveConns: 3, InactiveConns: 10, PersistConns: 2, State: "up",
						Stats: table.Stats{Conns: 1000, InPkts: 5000, OutPkts: 6000, InBytes: 123_456_789_012_345_678, OutBytes: 1_000_000_000},
						Rates: table.Rates{CPS: 123_456_789, InPPS: 1, OutPPS: 2, InBPS: 100_000_000, OutBPS: 3}},
					{Addr: "198.51.100.2", Port: 80, Forward: "Masq", Weight: 0, InactiveConns: 1, PersistConns: 1, State: "quiesced", Reason: "HTTP 503",
						Stats: table.Stats{Conns: 234}},
					{Addr: "198.51.100.3", Port: 80, Forward: "Route", Weight: 0, State: "down", Reason: "connect: connection refused"},
					{Addr: "198.51.100.4", Port: 80, Forward: "Route", Weight: 1, InactiveConns: 2, State: "up", Removed: true},
				},
			},
			{Name: "ten", Family: 4, Proto: "TCP", VIP: "10.0.0.1", Port: 8080, Scheduler: "rr"},
			{
				Name: "fwm6", FWMark: 7, Family: 6, Proto: "TCP", VIP: "2001:db8::1", Port: 80,
				Scheduler: "lc", SchedFlags: "flag-1,flag-3", Persistent: 120, PrefixLen: 128,
				Dests: []table.DestStatus{
					{Addr: "2001:db8::10", Port: 0, Forward: "Route", Weight: 1, State: "up"},
				},
			},
		},
	}
}

const title = "govs test proxy plane (6 services)"

// The service order is ipvsadm's: non-mark services first, IPv4 before
// IPv6, TCP before UDP, and 192.0.2.1 before 10.0.0.1 because libipvs
// compares addresses by the sign of their 32-bit difference.
func TestDefault(t *testing.T) {
	want := golden(`
govs test proxy plane (6 services)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  192.0.2.1:80 wlc persistent 600 mask 255.255.255.0
  -> 198.51.100.2:80              Masq    0      0          1         |
  -> 198.51.100.12:80             Route   1      3          10        |
TCP  10.0.0.1:8080 rr
UDP  192.0.2.1:53 sh (sh-fallback,sh-port) ops
  -> 198.51.100.5:53              Masq    5      0          120       |
TCP  [2001:db8::1]:443 wrr persistent 600 mask 64
  -> [2001:db8::9]:443            Tunnel  0      0          0         |
  -> [2001:db8::10]:443           Tunnel  10     5          7         |
FWM  7 IPv6 lc (flag-1,flag-3) persistent 120
  -> [2001:db8::10]:0             Route   1      0          0         |
FWM  80 rr persistent 300
  -> 198.51.100.2:80              Route   1      2          0         |
`)
	check(t, render(t, fixture(), Options{Title: title, Numeric: true}), want)
}

func TestState(t *testing.T) {
	want := golden(`
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn  State
TCP  192.0.2.1:80 wlc persistent 600 mask 255.255.255.0
  -> 198.51.100.2:80              Masq    0      0          1          quiesced (HTTP 503)
  -> 198.51.100.3:80              Route   0      0          0          down (connect: connection refused)
  -> 198.51.100.4:80              Route   1      0          2          up,removed
  -> 198.51.100.12:80             Route   1      3          10         up
`)
	snap := fixture()
	snap.Services = snap.Services[3:4]
	check(t, render(t, snap, Options{Numeric: true, State: true}), want)
}

func TestNoSort(t *testing.T) {
	want := golden(`
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  [2001:db8::1]:443 wrr persistent 600 mask 64
  -> [2001:db8::10]:443           Tunnel  10     5          7         |
  -> [2001:db8::9]:443            Tunnel  0      0          0         |
TCP  10.0.0.1:8080 rr
`)
	snap := fixture()
	snap.Services = []table.ServiceStatus{snap.Services[1], snap.Services[4]}
	check(t, render(t, snap, Options{Numeric: true, NoSort: true}), want)
}

// Counters go through print_largenum: nine columns, K below 10^9, M below
// 10^11, G below 10^14, T beyond.
func TestStats(t *testing.T) {
	want := golden(`
Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes
  -> RemoteAddress:Port
TCP  192.0.2.1:80                     1234 99999999  123456K   98765M   12345G
  -> 198.51.100.2:80                   234        0        0        0        0
  -> 198.51.100.12:80                 1000     5000     6000  123456T    1000M
`)
	snap := fixture()
	snap.Services = snap.Services[3:4]
	check(t, render(t, snap, Options{Numeric: true, Stats: true}), want)
}

func TestStatsExact(t *testing.T) {
	want := golden(`
Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes State
  -> RemoteAddress:Port
TCP  192.0.2.1:80                     1234 99999999 123456789 98765432100 12345678901234
  -> 198.51.100.2:80                   234        0        0        0        0 quiesced (HTTP 503)
  -> 198.51.100.3:80                     0        0        0        0        0 down (connect: connection refused)
  -> 198.51.100.4:80                     0        0        0        0        0 up,removed
  -> 198.51.100.12:80                 1000     5000     6000 123456789012345678 1000000000 up
`)
	snap := fixture()
	snap.Services = snap.Services[3:4]
	check(t, render(t, snap, Options{Numeric: true, Stats: true, Exact: true, State: true}), want)
}

// A real server's connection and packet rates are printed in full; only
// its byte rates, and all of a service's rates, are abbreviated.
func TestRate(t *testing.T) {
	want := golden(`
Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS
  -> RemoteAddress:Port
TCP  192.0.2.1:80                       12      345  123456K  100000K  999999K
  -> 198.51.100.2:80                     0        0        0        0        0
  -> 198.51.100.12:80             123456789        1        2  100000K        3
UDP  192.0.2.1:53                        0        0        0        0        0
  -> 198.51.100.5:53                     0        0        0        0        0
FWM  7 IPv6                              0        0        0        0        0
  -> [2001:db8::10]:0                    0        0        0        0        0
`)
	snap := fixture()
	snap.Services = []table.ServiceStatus{snap.Services[5], snap.Services[3], snap.Services[2]}
	check(t, render(t, snap, Options{Numeric: true, Rate: true}), want)
}

func TestPersistConn(t *testing.T) {
	want := golden(`
Prot LocalAddress:Port            Weight    PersistConn ActiveConn InActConn |
  -> RemoteAddress:Port
TCP  192.0.2.1:80 wlc persistent 600 mask 255.255.255.0
  -> 198.51.100.2:80              0         1           0          1         |
  -> 198.51.100.12:80             1         2           3          10        |
TCP  [2001:db8::1]:443 wrr persistent 600 mask 64
  -> [2001:db8::9]:443            0         0           0          0         |
  -> [2001:db8::10]:443           10        4           5          7         |
`)
	snap := fixture()
	snap.Services = []table.ServiceStatus{snap.Services[1], snap.Services[3]}
	check(t, render(t, snap, Options{Numeric: true, PersistConn: true}), want)
}

func TestThresholds(t *testing.T) {
	want := golden(`
Prot LocalAddress:Port            Uthreshold Lthreshold ActiveConn InActConn |
  -> RemoteAddress:Port
TCP  192.0.2.1:80 wlc persistent 600 mask 255.255.255.0
  -> 198.51.100.2:80              0          0          0          1         |
  -> 198.51.100.12:80             1000       800        3          10        |
`)
	snap := fixture()
	snap.Services = []table.ServiceStatus{snap.Services[3]}
	for i := range snap.Services[0].Dests {
		if snap.Services[0].Dests[i].Addr == "198.51.100.12" {
			snap.Services[0].Dests[i].UpperThreshold, snap.Services[0].Dests[i].LowerThreshold = 1000, 800
		}
	}
	check(t, render(t, snap, Options{Numeric: true, Thresholds: true, PersistConn: true}), want)
}

// Stats wins over Rate, which wins over Thresholds, which wins over
// PersistConn, as in print_title.
func TestViewPrecedence(t *testing.T) {
	snap := fixture()
	snap.Services = snap.Services[4:5]
	a := render(t, snap, Options{Numeric: true, Stats: true, Rate: true, PersistConn: true})
	b := render(t, snap, Options{Numeric: true, Stats: true})
	check(t, a, b)
	a = render(t, snap, Options{Numeric: true, Rate: true, PersistConn: true})
	b = render(t, snap, Options{Numeric: true, Rate: true})
	check(t, a, b)
}

func TestSchedFlags(t *testing.T) {
	for _, c := range []struct{ sched, flags, want string }{
		{"sh", "sh-fallback", "TCP  192.0.2.1:80 sh (sh-fallback)"},
		{"sh", "sh-port", "TCP  192.0.2.1:80 sh (sh-port)"},
		{"mh", "mh-fallback,mh-port", "TCP  192.0.2.1:80 mh (mh-fallback,mh-port)"},
		// ipvsadm names only sh's own flags, leaving the parentheses empty.
		{"sh", "flag-3", "TCP  192.0.2.1:80 sh ()"},
		{"wlc", "flag-2", "TCP  192.0.2.1:80 wlc (flag-2)"},
		{"wlc", "", "TCP  192.0.2.1:80 wlc"},
	} {
		snap := table.Snapshot{Services: []table.ServiceStatus{{Family: 4, Proto: "TCP", VIP: "192.0.2.1", Port: 80,
			Scheduler: c.sched, SchedFlags: c.flags}}}
		got := strings.Split(render(t, snap, Options{Numeric: true}), "\n")[2]
		if got != c.want {
			t.Errorf("%s %q: got %q, want %q", c.sched, c.flags, got, c.want)
		}
	}
}

func TestPersistMask(t *testing.T) {
	for _, c := range []struct {
		fam, bits int
		want      string
	}{
		{4, 32, ""}, {4, 0, ""}, {4, 24, "255.255.255.0"}, {4, 1, "128.0.0.0"}, {4, 17, "255.255.128.0"},
		{6, 128, ""}, {6, 64, "64"}, {6, 48, "48"},
	} {
		fam := map[int]int{4: 4, 6: 6}[c.fam]
		if got := persistMask(serviceFamily(&table.ServiceStatus{Family: fam}), c.bits); got != c.want {
			t.Errorf("family %d /%d: got %q, want %q", c.fam, c.bits, got, c.want)
		}
	}
}

func TestLargenum(t *testing.T) {
	for _, c := range []struct {
		v     uint64
		exact bool
		want  string
	}{
		{0, false, "        0"},
		{99_999_999, false, " 99999999"},
		{100_000_000, false, "  100000K"},
		{999_999_999, false, "  999999K"},
		{1_000_000_000, false, "    1000M"},
		{99_999_999_999, false, "   99999M"},
		{100_000_000_000, false, "     100G"},
		{99_999_999_999_999, false, "   99999G"},
		{100_000_000_000_000, false, "     100T"},
		{^uint64(0), false, "18446744T"},
		{12345678, true, " 12345678"},
		{123456789, true, " 123456789"},
		{^uint64(0), true, " 18446744073709551615"},
	} {
		if got := largenum(c.v, c.exact); got != c.want {
			t.Errorf("largenum(%d, %v) = %q, want %q", c.v, c.exact, got, c.want)
		}
	}
}

func TestTimeout(t *testing.T) {
	var b bytes.Buffer
	if err := WriteTimeout(&b, fixture()); err != nil {
		t.Fatal(err)
	}
	check(t, b.String(), "Timeout (tcp tcpfin udp): 900 120 300\n")
}

func TestTitleLine(t *testing.T) {
	if got := TitleLine("1.0.0", "proxy", 3); got != "govs 1.0.0 proxy plane (3 services)" {
		t.Error(got)
	}
	if got := TitleLine("1.0.0", "ipvs", 1); got != "govs 1.0.0 ipvs plane (1 service)" {
		t.Error(got)
	}
}

// Conns are listed as /proc/net/ip_vs_conn gives them, with the expiry as
// mm:ss; templates show as protocol IP (marks) or the service's, state NONE,
// and a mark template's virtual address is its mark.
func TestConns(t *testing.T) {
	conns := []table.ConnStatus{
		{Proto: "TCP", Expires: 899, State: "ESTABLISHED", Source: "203.0.113.7:51234", Virtual: "192.0.2.1:80", Destination: "198.51.100.12:80"},
		{Proto: "UDP", Expires: 5, State: "UDP", Source: "203.0.113.7:40000", Virtual: "192.0.2.1:53", Destination: "198.51.100.5:53"},
		{Proto: "TCP", Expires: 3600, State: "NONE", Source: "203.0.113.0:0", Virtual: "192.0.2.1:80", Destination: "198.51.100.12:80", Template: true},
		{Proto: "IP", Expires: 300, State: "NONE", Source: "203.0.113.7:0", Virtual: "0.0.0.80:0", Destination: "198.51.100.2:0", Template: true},
		{Proto: "TCP", Expires: 86400, State: "SYN_RECV", Source: "[2001:db8:1::7]:51234", Virtual: "[2001:db8::1]:443", Destination: "[2001:db8::10]:443"},
		{Proto: "TCP", Expires: 0, State: "CLOSE", Source: "203.0.113.255:65535", Virtual: "192.0.2.100:65535", Destination: "198.51.100.200:65535"},
	}
	want := golden(`
IPVS connection entries
pro expire state       source             virtual            destination
TCP 14:59  ESTABLISHED 203.0.113.7:51234  192.0.2.1:80       198.51.100.12:80
UDP 00:05  UDP         203.0.113.7:40000  192.0.2.1:53       198.51.100.5:53
TCP 60:00  NONE        203.0.113.0:0      192.0.2.1:80       198.51.100.12:80
IP  05:00  NONE        203.0.113.7:0      0.0.0.80:0         198.51.100.2:0
TCP 1440:00 SYN_RECV    [2001:db8:1::7]:51234 [2001:db8::1]:443  [2001:db8::10]:443
TCP 00:00  CLOSE       203.0.113.255:65535 192.0.2.100:65535  198.51.100.200:65535
`)
	var b bytes.Buffer
	if err := WriteConns(&b, conns, Options{Numeric: true, Title: "ignored"}); err != nil {
		t.Fatal(err)
	}
	check(t, b.String(), want)
}

func TestConnsEmpty(t *testing.T) {
	var b bytes.Buffer
	if err := WriteConns(&b, nil, Options{}); err != nil {
		t.Fatal(err)
	}
	check(t, b.String(), "IPVS connection entries\npro expire state       source             virtual            destination\n")
}

// withServices points port naming at a fixed database for one test.
func withServices(t *testing.T, content string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "services")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	old := servicesFile
	reset := func(f string) {
		servicesFile = f
		servicesOnce = sync.Once{}
		services = nil
	}
	reset(p)
	t.Cleanup(func() { reset(old) })
}

const servicesDB = `# comment
http		80/tcp		www		# WorldWideWeb HTTP
http		80/udp
www-alt		80/tcp
domain		53/tcp
domain		53/udp
https		443/tcp
averyveryverylongservicename 8080/tcp
broken		x/tcp
`

// Without -n, ipvsadm names ports from the services database for TCP and
// UDP, never for IP templates, and cuts IPv4 names to their columns.
func TestPortNames(t *testing.T) {
	withServices(t, servicesDB)
	want := golden(`
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  192.0.2.1:http wlc persistent 600 mask 255.255.255.0
  -> 198.51.100.2:http            Masq    0      0          1         |
  -> 198.51.100.12:http           Route   1      3          10        |
TCP  10.0.0.1:averyveryverylongse rr
UDP  192.0.2.1:domain sh (sh-fallback,sh-port) ops
  -> 198.51.100.5:domain          Masq    5      0          120       |
TCP  [2001:db8::1]:https wrr persistent 600 mask 64
  -> [2001:db8::9]:https          Tunnel  0      0          0         |
  -> [2001:db8::10]:https         Tunnel  10     5          7         |
FWM  7 IPv6 lc (flag-1,flag-3) persistent 120
  -> [2001:db8::10]:0             Route   1      0          0         |
FWM  80 rr persistent 300
  -> 198.51.100.2:http            Route   1      2          0         |
`)
	check(t, render(t, fixture(), Options{}), want)

	snap := fixture()
	snap.Services = []table.ServiceStatus{{Family: 4, Proto: "TCP", VIP: "192.0.2.1", Port: 8080, Scheduler: "rr",
		Dests: []table.DestStatus{{Addr: "198.51.100.222", Port: 8080, Forward: "Masq", Weight: 1, State: "up"}}}}
	want = golden(`
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  192.0.2.1:averyveryverylongs rr
  -> 198.51.100.222:averyveryvery Masq    1      0          0         |
`)
	check(t, render(t, snap, Options{}), want)

	var b bytes.Buffer
	conns := []table.ConnStatus{
		{Proto: "TCP", Expires: 61, State: "ESTABLISHED", Source: "203.0.113.7:53", Virtual: "192.0.2.1:80", Destination: "198.51.100.12:80"},
		{Proto: "IP", Expires: 61, State: "NONE", Source: "203.0.113.7:0", Virtual: "0.0.0.80:80", Destination: "198.51.100.2:80"},
	}
	if err := WriteConns(&b, conns, Options{}); err != nil {
		t.Fatal(err)
	}
	check(t, b.String(), golden(`
IPVS connection entries
pro expire state       source             virtual            destination
TCP 01:01  ESTABLISHED 203.0.113.7:domain 192.0.2.1:http     198.51.100.12:http
IP  01:01  NONE        203.0.113.7:0      0.0.0.80:80        198.51.100.2:80
`))
}

func TestParseServices(t *testing.T) {
	m := parseServices(strings.NewReader(servicesDB + "zero 0080/tcp\n"))
	for k, want := range map[string]string{"80/tcp": "http", "80/udp": "http", "53/udp": "domain", "443/tcp": "https"} {
		if m[k] != want {
			t.Errorf("%s: got %q, want %q", k, m[k], want)
		}
	}
	if len(m) != 6 {
		t.Errorf("got %d entries: %v", len(m), m)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, os.ErrClosed }

func TestWriteError(t *testing.T) {
	if err := Write(failWriter{}, fixture(), Options{}); err == nil {
		t.Error("Write: no error")
	}
	if err := WriteConns(failWriter{}, nil, Options{}); err == nil {
		t.Error("WriteConns: no error")
	}
}
