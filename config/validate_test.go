package config

import (
	"bytes"
	"errors"
	"net/netip"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/govs/govs/model"
)

func validModel() *model.Config {
	c := &model.Config{Global: model.DefaultGlobal()}
	s := model.DefaultService("web")
	s.Active = true
	s.VIP = netip.MustParseAddr("192.0.2.80")
	s.Device = "eth0:1"
	for i, a := range []string{"10.0.0.1", "10.0.0.2"} {
		r := model.DefaultRealServer([]string{"r1", "r2"}[i])
		r.Addr = netip.MustParseAddr(a)
		r.Port = 80
		r.Active = true
		s.RealServers = append(s.RealServers, r)
	}
	c.Services = []model.Service{s}
	return c
}

func messages(err error) []string {
	if err == nil {
		return nil
	}
	var list ErrorList
	if !errors.As(err, &list) {
		return []string{"not an ErrorList: " + err.Error()}
	}
	var out []string
	for _, f := range list {
		out = append(out, f.String())
	}
	return out
}

func TestValidate(t *testing.T) {
	if err := Validate(validModel()); err != nil {
		t.Fatalf("valid model: %v", err)
	}
	tests := []struct {
		name string
		mod  func(c *model.Config)
		want []string
	}{
		{"weight", func(c *model.Config) { c.Services[0].RealServers[1].Weight = 70000 },
			[]string{`virtual "web": server "r2": weight 70000 out of range (0-65535)`}},
		{"duplicate real server", func(c *model.Config) { c.Services[0].RealServers[1].Addr = netip.MustParseAddr("10.0.0.1") },
			[]string{`virtual "web": server "r2": real server 10.0.0.1:80 is already server "r1"`}},
		{"duplicate names", func(c *model.Config) {
			s := c.Services[0]
			s.VIP = netip.MustParseAddr("192.0.2.81")
			s.RealServers = nil
			c.Services = append(c.Services, s)
		}, []string{`virtual "web": duplicate virtual name "web", also virtual "web"`}},
		{"duplicate key", func(c *model.Config) {
			s := c.Services[0]
			s.Name = "web2"
			s.RealServers = nil
			c.Services = append(c.Services, s)
		}, []string{`virtual "web2": same service (TCP  192.0.2.80:80) as virtual "web"`}},
		{"missing VIP", func(c *model.Config) { c.Services[0].VIP = netip.Addr{} },
			[]string{`virtual "web": missing address (the VIP and its device: address = IP DEVICE)`}},
		{"missing device", func(c *model.Config) { c.Services[0].Device = "" },
			[]string{`virtual "web": address needs a device (address = IP DEVICE)`}},
		{"pmask for the family", func(c *model.Config) {
			c.Services[0].Persistence = model.Persistence{Timeout: time.Minute, PrefixLen: 48}
		}, []string{`virtual "web": pmask /48 is too long for an IPv4 address`}},
		{"IPv6 pmask is fine", func(c *model.Config) {
			c.Services[0].VIP = netip.MustParseAddr("2001:db8::80")
			c.Services[0].Persistence = model.Persistence{Timeout: time.Minute, PrefixLen: 48}
		}, nil},
		{"fwmark_ports without fwmark", func(c *model.Config) {
			c.Services[0].MarkPorts = model.PortRanges{{First: 80, Last: 80}}
		}, []string{`virtual "web": fwmark_ports needs fwmark`}},
		{"bad port range", func(c *model.Config) {
			c.Services[0].FWMark = 3
			c.Services[0].MarkPorts = model.PortRanges{{First: 90, Last: 80}, {First: 70, Last: 85}, {First: 75, Last: 75}}
		}, []string{`virtual "web": fwmark_ports: invalid range 90-80`, `virtual "web": fwmark_ports: 75 overlaps 70-85`}},
		{"unknown scheduler", func(c *model.Config) { c.Services[0].Scheduler = "pcc" },
			[]string{`virtual "web": unknown scheduler "pcc" (valid: rr, wrr, lc, wlc, sed, nq, lblc, lblcr, dh, sh, mh, fo, ovf, twos)`}},
		{"zero interval", func(c *model.Config) { c.Services[0].Check.Interval = 0 },
			[]string{`virtual "web": timeout 0 must be at least 1`}},
		{"fractional persistence", func(c *model.Config) { c.Services[0].Persistence.Timeout = 1500 * time.Millisecond },
			[]string{`virtual "web": persistent 1.5s is not a whole number of seconds`}},
		{"bad extension value", func(c *model.Config) {
			c.Services[0].Check.Extra = map[string]string{"rise": "0", "check_foo": "1"}
		}, []string{`virtual "web": unknown check keyword "check_foo"`, `virtual "web": rise: 0 out of range (1-2147483647)`}},
		{"one packet on tcp", func(c *model.Config) { c.Services[0].OnePacket = true },
			[]string{`virtual "web": one_packet needs protocol = udp`}},
		{"ftp mark service without port 21", func(c *model.Config) {
			c.Services[0].FTP = true
			c.Services[0].FWMark = 21
			c.Services[0].Persistence.Timeout = time.Minute
			c.Services[0].MarkPorts = model.PortRanges{{First: 10000, Last: 20000}}
		}, []string{`virtual "web": ftp on a firewall-mark service needs the control port 21 in fwmark_ports`}},
		{"ftp mark service without fwmark_ports", func(c *model.Config) {
			c.Services[0].FTP = true
			c.Services[0].FWMark = 21
			c.Services[0].Persistence.Timeout = time.Minute
		}, []string{`virtual "web": ftp on a firewall-mark service without fwmark_ports needs port = 21`}},
		{"ftp mark service", func(c *model.Config) {
			c.Services[0].FTP = true
			c.Services[0].FWMark = 21
			c.Services[0].Persistence.Timeout = time.Minute
			c.Services[0].MarkPorts = model.PortRanges{{First: 21, Last: 21}, {First: 10000, Last: 20000}}
		}, nil},
		{"ftp mark service by port", func(c *model.Config) {
			c.Services[0].FTP = true
			c.Services[0].FWMark = 21
			c.Services[0].Port = 21
			c.Services[0].Persistence.Timeout = time.Minute
		}, nil},
		{"thresholds", func(c *model.Config) {
			c.Services[0].RealServers[0].UpperThreshold = 10
			c.Services[0].RealServers[0].LowerThreshold = 20
		}, []string{`virtual "web": server "r1": lthreshold 20 is above uthreshold 10`}},
		{"proxy protocol", func(c *model.Config) { c.Services[0].RealServers[0].ProxyProtocol = 3 },
			[]string{`virtual "web": server "r1": proxy_protocol 3 out of range (0-2)`}},
		{"bad enums", func(c *model.Config) {
			c.Global.Dataplane = "xdp"
			c.Global.Network = 9
			c.Services[0].Proto = 1
			c.Services[0].RealServers[0].Forward = 7
		}, []string{
			`dataplane "xdp" is not proxy, ipvs or auto`,
			`network 9 is not nat, direct or tunnel`,
			`virtual "web": protocol proto(1) is not tcp or udp`,
			`virtual "web": server "r1": network 7 is not nat, direct or tunnel`,
		}},
		{"global ranges", func(c *model.Config) {
			c.Global.SyncdID = 300
			c.Global.Keepalive = 0
			c.Global.NATRouter = netip.MustParseAddr("10.0.0.254")
			c.Global.NATPrefixLen = 33
		}, []string{
			`keepalive 0 must be at least 1`,
			`nat_router needs a device`,
			`nat_nmask /33 is too long for an IPv4 address`,
			`syncd_id 300 out of range (0-255)`,
		}},
		{"unwritable strings", func(c *model.Config) {
			c.Global.ActiveCmd = "a\nb"
			c.Services[0].Check.Expect = `a "b" 'c'`
		}, []string{
			`active_cmd: a value cannot contain a line break`,
			`virtual "web": expect: "a \"b\" 'c'" holds both kinds of quote and a blank, which lvs.cf cannot express`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validModel()
			tt.mod(c)
			got := messages(Validate(c))
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestCheckPlane(t *testing.T) {
	c := validModel()
	c.Global.Network = model.ForwardDR
	c.Services[0].RealServers[1].Forward = model.ForwardTUN
	c.Services[0].RealServers[0].ProxyProtocol = 1
	c.Services[0].RealServers[0].Addr = netip.MustParseAddr("2001:db8::1")

	render := func(fs []Finding) []string {
		var out []string
		for _, f := range fs {
			out = append(out, f.String())
		}
		return out
	}
	for _, plane := range []string{"", "proxy"} {
		got := render(CheckPlane(c, capsOf(t, plane)))
		want := []string{
			`virtual "web": server "r2": network = tunnel is not supported by the proxy data plane (set dataplane = ipvs)`,
			`network = direct is not supported by the proxy data plane (set dataplane = ipvs)`,
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("plane %q:\n got %q\nwant %q", plane, got, want)
		}
	}
	got := render(CheckPlane(c, capsOf(t, "ipvs")))
	want := []string{
		`virtual "web": server "r1": proxy_protocol needs the proxy data plane; IPVS forwards packets unchanged`,
		`virtual "web": server "r1": IPVS cannot forward IPv4 traffic to IPv6 real server 2001:db8::1 with network = direct (only tunnel mixes families)`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("plane ipvs:\n got %q\nwant %q", got, want)
	}

	// A valid Piranha file for direct routing passes `govs check` (only
	// warnings) while CheckPlane refuses it for the proxy plane, the one
	// the default (auto) falls back to without IPVS.
	pc, res, err := Load("testdata/piranha-dr.cf")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) == 0 || len(CheckPlane(pc, capsOf(t, "proxy"))) == 0 {
		t.Errorf("direct routing under the proxy plane: warnings %v", res.Warnings)
	}
}

func TestFindingString(t *testing.T) {
	for _, tt := range []struct {
		f    Finding
		want string
	}{
		{Finding{File: "a.cf", Line: 3, Message: "m"}, "a.cf:3: m"},
		{Finding{File: "a.cf", Message: "m"}, "a.cf: m"},
		{Finding{Line: 3, Message: "m"}, "line 3: m"},
		{Finding{Message: "m"}, "m"},
	} {
		if got := tt.f.String(); got != tt.want || tt.f.Error() != tt.want {
			t.Errorf("%+v renders %q", tt.f, got)
		}
	}
	list := ErrorList{{File: "a", Line: 1, Message: "x"}, {File: "a", Line: 2, Message: "y"}}
	if list.Error() != "a:1: x\na:2: y" {
		t.Errorf("ErrorList renders %q", list.Error())
	}
	var f Finding
	if !errors.As(list, &f) || f.Line != 1 {
		t.Errorf("errors.As on an ErrorList: %+v", f)
	}
}

// Under the default plane (auto) what the proxy cannot do is a warning that
// says so; ParseForPlane makes it an error with its line.
func TestPlaneFindingsWithLines(t *testing.T) {
	src := []byte("network = direct\nvirtual v {\n    active = 1\n    address = 192.0.2.1 eth0\n" +
		"    server a {\n        address = 198.51.100.1\n        active = 1\n    }\n}\n")
	_, res, err := parseChecked("t.cf", src)
	if err != nil {
		t.Fatal(err)
	}
	want := "t.cf:1: network = direct is not supported by the proxy data plane (set dataplane = ipvs); " +
		"with dataplane = auto, govs run needs kernel IPVS (root on a kernel with ip_vs) for it"
	if len(res.Warnings) != 1 || res.Warnings[0].String() != want {
		t.Fatalf("warnings %v\nwant %s", res.Warnings, want)
	}
	_, _, err = ParseForPlane("t.cf", src, capsOf(t, "proxy"))
	if err == nil || err.Error() != "t.cf:1: network = direct is not supported by the proxy data plane (set dataplane = ipvs)" {
		t.Fatalf("ParseForPlane(proxy): %v", err)
	}
	if _, _, err := ParseForPlane("t.cf", src, capsOf(t, "ipvs")); err != nil {
		t.Fatalf("ParseForPlane(ipvs): %v", err)
	}
}

func TestHTTPKeywords(t *testing.T) {
	ok := "http_listen = 127.0.0.1:3636\nhttp_users = /etc/govs/users\nhttp_tls_cert = /etc/govs/c.pem\nhttp_tls_key = /etc/govs/k.pem\n"
	c, _, err := Parse("t.cf", []byte(ok))
	if err != nil || c.Global.HTTPListen != "127.0.0.1:3636" || c.Global.HTTPUsers != "/etc/govs/users" {
		t.Fatalf("%v %+v", err, c)
	}
	var b bytes.Buffer
	if err := Write(&b, c); err != nil {
		t.Fatal(err)
	}
	c2, _, err := Parse("t.cf", b.Bytes())
	if err != nil || !reflect.DeepEqual(c, c2) {
		t.Fatalf("round trip: %v\n%s", err, b.String())
	}
	for src, want := range map[string]string{
		"http_listen = 3636\nhttp_users = u\n":    "t.cf:1: http_listen: \"3636\": want ADDRESS:PORT",
		"http_listen = 127.0.0.1:3636\n":          "t.cf:1: http_listen needs http_users",
		"http_users = u\nhttp_tls_cert = c.pem\n": "http_tls_cert and http_tls_key go together",
	} {
		_, _, err := Parse("t.cf", []byte(src))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", src, err, want)
		}
	}
}

func TestVRRPKeywords(t *testing.T) {
	ok := "backup_active = 1\nbackup = 192.0.2.11\nvrrp_vrid = 7\nvrrp_priority = 200\nvrrp_preempt = 1\n" +
		"vrrp_interface = eth1\nvrrp_unicast_peers = 192.0.2.11,2001:db8::11\nvrrp_advert_ms = 105\nstate_sync_port = 9000\n"
	c, _, err := Parse("t.cf", []byte(ok))
	if err != nil {
		t.Fatal(err)
	}
	gl := c.Global
	if gl.VRRPVRID != 7 || gl.VRRPPriority != 200 || !gl.VRRPPreempt || gl.VRRPInterface != "eth1" ||
		len(gl.VRRPUnicastPeers) != 2 || gl.VRRPUnicastPeers[1] != netip.MustParseAddr("2001:db8::11") ||
		gl.VRRPAdvert != 100*time.Millisecond || gl.StateSyncPort != 9000 {
		t.Fatalf("%+v", gl)
	}
	var b bytes.Buffer
	if err := Write(&b, c); err != nil {
		t.Fatal(err)
	}
	c2, _, err := Parse("t.cf", b.Bytes())
	if err != nil || !reflect.DeepEqual(c, c2) {
		t.Fatalf("round trip: %v\n%s", err, b.String())
	}
	for src, want := range map[string]string{
		"vrrp_vrid = 0\n":                    "vrrp_vrid",
		"vrrp_priority = 256\n":              "vrrp_priority",
		"vrrp_preempt = 2\n":                 "boolean expected",
		"vrrp_unicast_peers = 192.0.2.1,x\n": "want a comma-separated list",
		"vrrp_advert_ms = 5\n":               "vrrp_advert_ms",
	} {
		_, _, err := Parse("t.cf", []byte(src))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", src, err, want)
		}
	}
}

// The FTP example of the README and testdata loads clean; without
// persistence a mark FTP service warns.
func TestFTPExample(t *testing.T) {
	c, res, err := Load("testdata/ftp.cf")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 0 {
		t.Errorf("warnings: %v", res.Warnings)
	}
	s := c.Services[0]
	if !s.FTP || s.FWMark != 21 || !s.MarkPorts.Contains(21) || !s.MarkPorts.Contains(15000) || !s.Persistence.Enabled() {
		t.Errorf("service %+v", s)
	}
	src, err := os.ReadFile("testdata/ftp.cf")
	if err != nil {
		t.Fatal(err)
	}
	_, res, err = Parse("t.cf", bytes.Replace(src, []byte("\tpersistent = 300\n"), nil, 1))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0].String(), "ftp on a firewall-mark service without persistent") {
		t.Errorf("without persistence: warnings %v", res.Warnings)
	}
	_, _, err = Parse("t.cf", bytes.Replace(src, []byte("fwmark_ports = 21,"), []byte("fwmark_ports = "), 1))
	if err == nil || !strings.Contains(err.Error(), "t.cf:21: ftp on a firewall-mark service needs the control port 21 in fwmark_ports") {
		t.Errorf("without port 21: %v", err)
	}
}

// max_conns is the proxy plane's: the kernel plane refuses both the global
// and the per-service bound, and says what IPVS offers instead.
func TestMaxConnsPlane(t *testing.T) {
	c := validModel()
	c.Global.MaxConns = 1000
	c.Services[0].MaxConns = 10
	if got := CheckPlane(c, capsOf(t, "proxy")); len(got) != 0 {
		t.Errorf("proxy plane: %v", got)
	}
	var got []string
	for _, f := range CheckPlane(c, capsOf(t, "ipvs")) {
		got = append(got, f.String())
	}
	want := []string{
		`max_conns needs the proxy data plane; the kernel's connection table is bounded by its memory`,
		`virtual "web": max_conns needs the proxy data plane; IPVS bounds real servers, not services (set their uthreshold)`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ipvs plane:\n got %q\nwant %q", got, want)
	}
}
