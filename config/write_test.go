package config

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/govs/govs/model"
)

// roundTrip checks that writing c and parsing the result gives c back, and
// returns the text written.
func roundTrip(t *testing.T, c *model.Config) string {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, c); err != nil {
		t.Fatalf("Write: %v", err)
	}
	c2, _, err := Parse("written.cf", b.Bytes())
	if err != nil {
		t.Fatalf("Parse(Write(c)): %v\n%s", err, b.String())
	}
	if !reflect.DeepEqual(c, c2) {
		t.Fatalf("Parse(Write(c)) differs from c:\n got %+v\nwant %+v\n%s", c2, c, b.String())
	}
	// Canonical means a fixed point: writing again gives the same text.
	var b2 bytes.Buffer
	if err := Write(&b2, c2); err != nil || b2.String() != b.String() {
		t.Fatalf("second Write differs (%v):\n%s\n---\n%s", err, b.String(), b2.String())
	}
	return b.String()
}

func TestRoundTripTestdata(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.cf")
	if len(files) < 3 {
		t.Fatalf("only %d sample files", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			c, _, err := Load(f)
			if err != nil {
				t.Fatal(err)
			}
			roundTrip(t, c)
		})
	}
}

// TestCanonicalExample pins the canonical form of the reference example.
func TestCanonicalExample(t *testing.T) {
	c, _, err := Load("testdata/piranha-example.cf")
	if err != nil {
		t.Fatal(err)
	}
	got := roundTrip(t, c)
	want, err := os.ReadFile("testdata/piranha-example.canonical")
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("canonical form changed:\n%s", got)
	}
}

func TestRoundTripSnippets(t *testing.T) {
	snippets := []string{
		"primary = 192.0.2.10\nprimary_private = 192.0.2.10\nbackup = 192.0.2.11\nbackup_private = 10.0.0.11\n",
		"primary = 192.0.2.10\nprimary_private = 10.0.0.10\n",
		"primary_private = 10.0.0.10\nbackup_private = 10.0.0.11\n",
		"backup = 0.0.0.0\ndebug_level = \"\"\nactive_cmd = \"/usr/local/bin/up now\"\ninactive_cmd = 'say \"down\"'\n",
		"nat_router = 2001:db8::1 eth1\nnat_nmask = 64\nkeepalive = 1\nhard_shutdown = 0\ndataplane = auto\n",
		"service = fos\nheartbeat = 0\nmonitor_links = 0\nsyncdaemon = 1\nsyncd_iface = \"bond 0\"\n",
		"expire_quiescent_template = 1\nexpire_nodest_conn = 1\nmetrics_auth = 1\nmax_conns = 5000\n",
		"virtual a {\n address = 192.0.2.1 eth0\n max_conns = 100\n}\n",
		"virtual a {\n address = 192.0.2.1 eth0\n port = 0\n persistent = 1\n pmask = 32\n}\n",
		"virtual a {\n address = 2001:db8::1 eth0\n pmask = 128\n vip_nmask = 128\n}\n",
		"virtual a {\n address = 2001:db8::1 eth0\n persistent = 10\n pmask = 255.255.0.0\n}\n",
		"virtual a {\n address = 192.0.2.1 eth0\n sorry_server = 192.0.2.9:8080\n port = 81\n}\n",
		"virtual a {\n address = 192.0.2.1 eth0\n sorry_server = 192.0.2.9:80\n port = 81\n}\n",
		"virtual \"my web\" {\n address = 192.0.2.1 \"eth 0\"\n server \"x y\" {\n  address = 10.0.0.1\n  port = 0\n }\n}\n",
		"virtual { {\n address = 192.0.2.1 =\n server = {\n  address = 10.0.0.1\n }\n}\n",
		"virtual a {\n address = 192.0.2.1 eth0\n send = \"\"\n expect = x'y\"z\n}\n",
		"virtual a {\n address = 192.0.2.1 eth0\n fwmark = 1\n server s {\n  address = 10.0.0.1\n  port = 80\n }\n server t {\n  address = 10.0.0.2\n }\n}\n",
		"virtual a {\n address = 192.0.2.1 eth0\n scheduler = sh\n scheduler_flags = flag-3,sh-port\n}\n",
		"virtual a {\n address = 192.0.2.1 eth0\n scheduler = wlc\n scheduler_flags = sh-fallback\n}\n",
		"virtual a {\n active = 0\n}\nvirtual b {\n server c {\n  active = 0\n }\n}\n",
		"virtual a {\n address = 192.0.2.1 eth0\n check_type = HTTP\n check_port = http\n dns_type = TYPE65\n dns_rcode = 3\n}\n",
		"virtual a {\n address = 192.0.2.1 eth0\n server s {\n  address = 10.0.0.1\n  network = nat\n  tunnel_type = ipip\n  weight = 0\n }\n}\n",
	}
	for _, src := range snippets {
		c, _, err := Parse("s.cf", []byte(src))
		if err != nil {
			t.Errorf("%q: %v", src, err)
			continue
		}
		roundTrip(t, c)
	}
}

// TestRoundTripBuilt writes models built in memory from the defaults, the
// way the web tool makes them.
func TestRoundTripBuilt(t *testing.T) {
	c := &model.Config{Global: model.DefaultGlobal()}
	roundTrip(t, c)

	s := model.DefaultService("web")
	s.Active = true
	s.VIP = netip.MustParseAddr("192.0.2.80")
	s.Device = "eth0:1"
	s.Check.Extra = map[string]string{"check_type": "http", "check_path": "/"}
	r := model.DefaultRealServer("r1")
	r.Addr = netip.MustParseAddr("10.0.0.1")
	r.Port = s.Port
	s.RealServers = []model.RealServer{r}
	c.Services = append(c.Services, s)
	if err := Validate(c); err != nil {
		t.Fatal(err)
	}
	out := roundTrip(t, c)
	if !strings.Contains(out, "    check_path = /\n") {
		t.Errorf("missing extension:\n%s", out)
	}
}

func TestWriteErrors(t *testing.T) {
	base := func() *model.Config {
		c := &model.Config{Global: model.DefaultGlobal()}
		s := model.DefaultService("web")
		s.VIP = netip.MustParseAddr("192.0.2.80")
		s.Device = "eth0"
		c.Services = []model.Service{s}
		return c
	}
	tests := []struct {
		name string
		mod  func(c *model.Config)
		want string
	}{
		{"line break", func(c *model.Config) { c.Global.ActiveCmd = "a\nb" }, "active_cmd: a value cannot contain a line break"},
		{"both quotes and a blank", func(c *model.Config) { c.Services[0].Check.Send = `a "b" 'c'` },
			`virtual "web": send: "a \"b\" 'c'" holds both kinds of quote and a blank, which lvs.cf cannot express`},
		{"fraction of a second", func(c *model.Config) { c.Services[0].Check.Interval = 1500 * time.Millisecond },
			`virtual "web": timeout: 1.5s is not a whole number of seconds`},
		{"unknown check keyword", func(c *model.Config) { c.Services[0].Check.Extra = map[string]string{"check_smtp": "1"} },
			`virtual "web": unknown check keyword "check_smtp"`},
	}
	for _, tt := range tests {
		c := base()
		tt.mod(c)
		var b bytes.Buffer
		err := Write(&b, c)
		if err == nil || err.Error() != tt.want {
			t.Errorf("%s: Write error %v, want %q", tt.name, err, tt.want)
		}
		if b.Len() != 0 {
			t.Errorf("%s: Write wrote output despite the error", tt.name)
		}
	}
}

func TestQuoteToken(t *testing.T) {
	tests := []struct {
		in, bare, always string
	}{
		{"abc", "abc", `"abc"`},
		{"a b", `"a b"`, `"a b"`},
		{"", `""`, `""`},
		{`say "hi"`, `'say "hi"'`, `'say "hi"'`},
		{`x'y"z`, `x'y"z`, `x'y"z`},
		{`"q`, `'"q'`, `'"q'`},
	}
	for _, tt := range tests {
		b, err1 := quoteToken(tt.in, false)
		a, err2 := quoteToken(tt.in, true)
		if err1 != nil || err2 != nil || b != tt.bare || a != tt.always {
			t.Errorf("quoteToken(%q) = %q, %q (%v %v)", tt.in, b, a, err1, err2)
		}
		toks, ok := tokenize("k = " + a)
		if !ok || len(toks) != 3 || toks[2].text != tt.in {
			t.Errorf("%q does not read back: %+v", a, toks)
		}
	}
}
