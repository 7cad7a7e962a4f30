package config

import (
	"net/netip"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/govs/govs/model"
)

// TestReferenceExample reads the example configuration of the reference
// (lvs-reference.md §1.7) and checks the model field by field.
func TestReferenceExample(t *testing.T) {
	c, res, err := Load("testdata/piranha-example.cf")
	if err != nil {
		t.Fatal(err)
	}
	wantWarn := []string{
		"testdata/piranha-example.cf:8: ignored: heartbeat (heartbeats are sent whenever backup_active = 1)",
		"testdata/piranha-example.cf:22: ignored: debug_level (Piranha did not use it either)",
	}
	var warns []string
	for _, w := range res.Warnings {
		warns = append(warns, w.String())
	}
	if !reflect.DeepEqual(warns, wantWarn) {
		t.Errorf("warnings %q, want %q", warns, wantWarn)
	}

	ip := netip.MustParseAddr
	wantGlobal := model.Global{
		SerialNo:       12,
		Primary:        ip("192.0.2.10"),
		PrimaryPrivate: ip("10.0.0.10"),
		Service:        "lvs",
		BackupActive:   true,
		Backup:         ip("192.0.2.11"),
		BackupPrivate:  ip("10.0.0.11"),
		Heartbeat:      true,
		HeartbeatPort:  539,
		Keepalive:      6 * time.Second,
		Deadtime:       18 * time.Second,
		Network:        model.ForwardNAT,
		NATRouter:      ip("172.16.0.254"),
		NATRouterDev:   "eth1:1",
		NATPrefixLen:   24,
		MonitorLinks:   true,
		SyncDaemon:     true,
		SyncdIface:     "eth1",
		SyncdID:        7,
		TCPTimeout:     900 * time.Second,
		TCPFinTimeout:  120 * time.Second,
		UDPTimeout:     300 * time.Second,
		HardShutdown:   true,
		RSHCommand:     "rsh",
		IPVSAdm:        "/sbin/ipvsadm",
		DebugLevel:     "NONE",
		Dataplane:      "auto",
	}
	if !reflect.DeepEqual(c.Global, wantGlobal) {
		t.Errorf("global:\n got %+v\nwant %+v", c.Global, wantGlobal)
	}

	if len(c.Services) != 2 {
		t.Fatalf("%d services, want 2", len(c.Services))
	}
	web := c.Services[0]
	wantWeb := model.Service{
		Name:         "web_bundle",
		Active:       true,
		Proto:        model.ProtoTCP,
		VIP:          ip("192.0.2.100"),
		Device:       "eth0:1",
		VIPPrefixLen: 24,
		Port:         80,
		FWMark:       80,
		Scheduler:    model.SchedWLC,
		Persistence:  model.Persistence{Timeout: 600 * time.Second, PrefixLen: 24},
		// Like the real servers, the sorry server of a mark service keeps
		// the client's destination port.
		Sorry: netip.MustParseAddrPort("172.16.0.50:0"),
		RealServers: []model.RealServer{
			// A mark service's real servers without a port keep the
			// client's destination port (80 or 443).
			{Name: "web1", Addr: ip("172.16.0.21"), Port: 0, Weight: 10, Active: true},
			{Name: "web2", Addr: ip("172.16.0.22"), Port: 0, Weight: 20, Active: true},
		},
		Check: model.Check{
			Interval:    6 * time.Second,
			Reentry:     30 * time.Second,
			Quiesce:     true,
			Send:        `HEAD / HTTP/1.0\r\n\r\n`,
			Expect:      `HTTP/1\.[01] (200|301|302)`,
			UseRegex:    true,
			LoadMonitor: "none",
		},
	}
	if !reflect.DeepEqual(web, wantWeb) {
		t.Errorf("web_bundle:\n got %+v\nwant %+v", web, wantWeb)
	}
	if k := web.Key(); k != model.MarkKey(model.IPv4, 80) {
		t.Errorf("web_bundle key %v", k)
	}

	dns := c.Services[1]
	wantDNS := model.Service{
		Name:      "dns",
		Active:    true,
		Proto:     model.ProtoUDP,
		VIP:       ip("192.0.2.101"),
		Device:    "eth0:2",
		Port:      53,
		Scheduler: model.SchedRR,
		RealServers: []model.RealServer{
			{Name: "ns1", Addr: ip("172.16.0.31"), Port: 53, Weight: 1, Active: true},
		},
		Check: model.Check{
			Interval:    5 * time.Second,
			Reentry:     15 * time.Second,
			Expect:      "OK",
			SendProgram: "/usr/local/bin/check_dns %h %p",
		},
	}
	if !reflect.DeepEqual(dns, wantDNS) {
		t.Errorf("dns:\n got %+v\nwant %+v", dns, wantDNS)
	}
	if k := dns.Key(); k != model.UDPKey(netip.MustParseAddrPort("192.0.2.101:53")) {
		t.Errorf("dns key %v", k)
	}
}

func TestDefaults(t *testing.T) {
	src := "primary = 192.0.2.10\n" +
		"virtual v {\n address = 192.0.2.1 eth0:1\n server a {\n  address = 10.0.0.1\n }\n port = 8080\n}\n"
	c, _, err := Parse("d.cf", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	g := c.Global
	if g.HeartbeatPort != 539 || g.Keepalive != 2*time.Second || g.Deadtime != 5*time.Second ||
		g.Network != model.ForwardNAT || !g.HardShutdown || g.RSHCommand != "rsh" || g.SyncdIface != "eth0" ||
		g.Service != "lvs" || g.Dataplane != "auto" || g.IPVSAdm != "/sbin/ipvsadm" || g.DebugLevel != "NONE" {
		t.Errorf("global defaults: %+v", g)
	}
	// Without primary_private, both private addresses are the public ones.
	if g.PrimaryPrivate != g.Primary || g.BackupPrivate.IsValid() {
		t.Errorf("private addresses: %v %v", g.PrimaryPrivate, g.BackupPrivate)
	}
	s := c.Services[0]
	if s.Active || s.Proto != model.ProtoTCP || s.Scheduler != model.SchedWLC || s.Port != 8080 ||
		s.Check.Interval != 10*time.Second || s.Check.Reentry != 180*time.Second || s.Persistence.Enabled() {
		t.Errorf("virtual defaults: %+v", s)
	}
	// The real server takes the virtual port even when `port` follows
	// its block.
	r := s.RealServers[0]
	if r.Active || r.Weight != 1 || r.Port != 8080 || r.Forward != model.ForwardDefault {
		t.Errorf("real server defaults: %+v", r)
	}
}

func TestValueForms(t *testing.T) {
	src := "serial_no = 0x1F\nsyncd_id = 010\nheartbeat_port = ssh\nmonitor_links = 5\nnat_nmask = 255.255.240.0\n" +
		"virtual v {\n address = ::ffff:192.0.2.1 eth0\n port = https\n persistent = 0x3c\n pmask = 255.255.255.255\n" +
		" reentry = 0\n sorry_server = 0.0.0.0\n fwmark = 7\n fwmark_ports = ftp-data,ftp,http-alt,10000-10010\n" +
		" send = 'say \"hi\"'\n expect = \"it's\"\n send_program = \"/bin/chk %h %p\"\n" +
		" server a {\n  address = 10.0.0.1\n  port = 0x50\n }\n}\n"
	c, _, err := Parse("v.cf", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	g := c.Global
	if g.SerialNo != 31 || g.SyncdID != 8 || g.HeartbeatPort != 22 || !g.MonitorLinks || g.NATPrefixLen != 20 {
		t.Errorf("global: %+v", g)
	}
	s := c.Services[0]
	if s.VIP != netip.MustParseAddr("192.0.2.1") || s.Port != 443 || s.Persistence.Timeout != time.Minute ||
		s.Persistence.PrefixLen != 0 || s.Check.Reentry != 180*time.Second || s.Sorry.IsValid() {
		t.Errorf("virtual: %+v", s)
	}
	if got := s.MarkPorts.String(); got != "20,21,8080,10000-10010" {
		t.Errorf("fwmark_ports %s", got)
	}
	if s.Check.Send != `say "hi"` || s.Check.Expect != "it's" || s.Check.SendProgram != "/bin/chk %h %p" {
		t.Errorf("check strings: %q %q %q", s.Check.Send, s.Check.Expect, s.Check.SendProgram)
	}
	if s.RealServers[0].Port != 80 {
		t.Errorf("explicit port on a mark service: %d", s.RealServers[0].Port)
	}
}

func TestLineEndings(t *testing.T) {
	src := "# comment\r\n  \t# indented comment\r\nprimary = 192.0.2.10\rbackup = 192.0.2.11\r\n\r\nbogus = 1\n"
	errs, _ := parseFindings(t, src)
	want := []string{`t.cf:6: unknown keyword "bogus"`}
	if !reflect.DeepEqual(errs, want) {
		t.Errorf("got %q, want %q", errs, want)
	}
}

func TestCommentOnlyFile(t *testing.T) {
	c, _, err := Parse("c.cf", []byte("# nothing configured yet\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.Global, model.DefaultGlobal()) || len(c.Services) != 0 {
		t.Errorf("got %+v", c)
	}
}

func TestParseInt(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		err  bool
	}{
		{"0", 0, false}, {"10", 10, false}, {"-10", -10, false}, {"+7", 7, false},
		{"0x1f", 31, false}, {"0X1F", 31, false}, {"017", 15, false}, {"-0x10", -16, false},
		{"08", 0, true}, {"0x", 0, true}, {"", 0, true}, {"-", 0, true}, {"1_000", 0, true},
		{"0b101", 0, true}, {"0o17", 0, true}, {"12abc", 0, true}, {" 1", 0, true},
		{"9223372036854775807", 1<<63 - 1, false}, {"-9223372036854775808", -1 << 63, false},
		{"9223372036854775808", 0, true},
	}
	for _, tt := range tests {
		got, err := parseInt(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("parseInt(%q) = %d, %v", tt.in, got, err)
		}
	}
}

func TestInetAton(t *testing.T) {
	tests := map[string]string{
		"1.2.3.4": "1.2.3.4", "10.1": "10.0.0.1", "10.1.2": "10.1.0.2", "167772161": "10.0.0.1",
		"0x0a.0.0.1": "10.0.0.1", "010.0.0.1": "8.0.0.1", "1.2.3.256": "", "1.2.65536": "",
		"1.2.3.4.5": "", "1..2": "", "-1.2.3.4": "", "4294967296": "",
	}
	for in, want := range tests {
		a, ok := inetAton(in)
		if want == "" {
			if ok {
				t.Errorf("inetAton(%q) = %v, want failure", in, a)
			}
			continue
		}
		if !ok || a.String() != want {
			t.Errorf("inetAton(%q) = %v %v, want %s", in, a, ok, want)
		}
	}
}

func TestParseMask(t *testing.T) {
	tests := []struct {
		in   string
		bits int
		err  bool
	}{
		{"255.255.255.0", 24, false}, {"0.0.0.0", 0, false}, {"255.255.255.255", 32, false},
		{"255.255.255.128", 25, false}, {"64", 64, false}, {"0", 0, false},
		{"255.255.0.255", 0, true}, {"0.255.255.255", 0, true}, {"129", 0, true}, {"x", 0, true},
	}
	for _, tt := range tests {
		m, err := parseMask(tt.in)
		if (err != nil) != tt.err || m.bits != tt.bits {
			t.Errorf("parseMask(%q) = %+v, %v", tt.in, m, err)
		}
	}
	for n := 0; n <= 32; n++ {
		m, err := parseMask(dottedMask(n))
		if err != nil || m.bits != n {
			t.Errorf("dottedMask(%d) = %s reads back as %d", n, dottedMask(n), m.bits)
		}
	}
}

func TestTokenize(t *testing.T) {
	tests := []struct {
		in   string
		want []token
		ok   bool
	}{
		{"a = b", []token{{text: "a"}, {text: "="}, {text: "b"}}, true},
		{"a\t=\t'x y' \"z\"", []token{{text: "a"}, {text: "="}, {text: "x y", quote: '\''}, {text: "z", quote: '"'}}, true},
		{`a = ""`, []token{{text: "a"}, {text: "="}, {text: "", quote: '"'}}, true},
		{`a = "it's"`, []token{{text: "a"}, {text: "="}, {text: "it's", quote: '"'}}, true},
		{`a = b"c`, []token{{text: "a"}, {text: "="}, {text: `b"c`}}, true},
		{`a = "b`, nil, false},
		{`a = "b"c`, nil, false},
	}
	for _, tt := range tests {
		got, ok := tokenize(tt.in)
		if ok != tt.ok || (ok && !reflect.DeepEqual(got, tt.want)) {
			t.Errorf("tokenize(%q) = %+v %v", tt.in, got, ok)
		}
	}
}

// TestReadmeExample keeps the example of the keyword reference valid.
func TestReadmeExample(t *testing.T) {
	doc, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "## Example\n\n```\n")
	if !ok {
		t.Fatal("README has no example")
	}
	src, _, _ := strings.Cut(rest, "```")
	c, res, err := Parse("README.md", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 0 || len(CheckPlane(c, capsOf(t, c.Global.Dataplane))) != 0 {
		t.Errorf("warnings: %v", res.Warnings)
	}
	roundTrip(t, c)
}

// TestReadmeCoversKeywords keeps the reference complete: every keyword the
// parser knows appears in README.md.
func TestReadmeCoversKeywords(t *testing.T) {
	doc, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range Keywords() {
		if !strings.Contains(string(doc), "`"+k.Name+"`") {
			t.Errorf("README.md does not document %s", k.Name)
		}
	}
	keys := CheckKeywords()
	if len(keys) != len(checkExtras) || keys[0] != "check_type" {
		t.Errorf("CheckKeywords() = %v", keys)
	}
	for _, key := range keys {
		if virtualKeywords.lookup(key) == nil {
			t.Errorf("%s is not a virtual-block keyword", key)
		}
	}
}

func TestNestedBlocks(t *testing.T) {
	src := "virtual a {\n address = 192.0.2.1 eth0\n server s {\n  address = 10.0.0.1\n server t {\n  address = 10.0.0.2\n }\n" +
		" server u {\n  address = 10.0.0.3\nfailover f {\n port = 1\n}\nserver v\n}\n"
	errs, _ := parseFindings(t, src)
	want := []string{
		`t.cf:5: server block inside server "s" (missing "}"?)`,
		`t.cf:10: failover block inside server "u" (missing "}"?)`,
		`t.cf:10: failover block inside virtual "a" (missing "}"?)`,
		"t.cf:13: server block outside a virtual block",
		"t.cf:13: server: missing arguments (want: server NAME {)",
	}
	if !reflect.DeepEqual(errs, want) {
		t.Errorf("got  %q\nwant %q", errs, want)
	}
}
