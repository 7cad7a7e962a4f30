package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aymanbagabas/go-udiff"

	"github.com/govs/govs/model"
)

// commented is lvs.cf as an operator keeps it: comments on everything,
// tabs, a service-name port, a hex mark, explicit defaults, a duplicate
// keyword, an ignored legacy keyword and a failover block.
const commented = `# LVS routers for the shop, edited by hand since 2004.
#
serial_no = 41
primary = 192.0.2.10
service = lvs
# Keep NAT: the real servers route through us.
network = nat
debug_level = NONE

# The web farm. Call Bob before touching the weights.
virtual shop {
	active = 1
	address = 192.0.2.100 eth0:1
	port = http
	# wlc, as Piranha set it up
	scheduler = wlc
	timeout = 6
	timeout = 10
	dirs = [ /a /b ]

	# the old box, half the weight
	server web1 {
		address = 198.51.100.21
		active = 1
		weight = 5
	}

	server web2 {
		address = 198.51.100.22
		active = 1
		weight = 10
	}
}

# Mail, one mark for SMTP and submission.
virtual mail {
	active = 1
	address = 192.0.2.101 eth0:2
	fwmark = 0x19
	scheduler = rr

	server mx1 {
		address = 198.51.100.31
		active = 1
	}
}

failover legacy {
	active = 0
}
`

func parseText(t *testing.T, src string) *model.Config {
	t.Helper()
	c, _, err := Parse("lvs.cf", []byte(src))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, src)
	}
	return c
}

// edit applies fn to the model of src and returns Edit's text, failing if
// Edit had to rewrite the file.
func edit(t *testing.T, src string, fn func(c *model.Config)) string {
	t.Helper()
	from := parseText(t, src)
	to := parseText(t, src)
	fn(to)
	if err := Validate(to); err != nil {
		t.Fatalf("the edited model does not validate: %v", err)
	}
	out, why, err := Edit([]byte(src), from, to)
	if err != nil {
		t.Fatal(err)
	}
	if why != "" {
		t.Fatalf("Edit rewrote the file: %s\n%s", why, out)
	}
	return string(out)
}

// changes lists the lines a diff removes (-) and adds (+), in order.
func changes(before, after string) []string {
	var out []string
	for _, l := range strings.Split(udiff.Unified("a", "b", before, after), "\n") {
		if (strings.HasPrefix(l, "-") || strings.HasPrefix(l, "+")) &&
			!strings.HasPrefix(l, "---") && !strings.HasPrefix(l, "+++") {
			out = append(out, l)
		}
	}
	return out
}

func wantChanges(t *testing.T, before, after string, want ...string) {
	t.Helper()
	if got := changes(before, after); !slices.Equal(got, want) {
		t.Fatalf("changed lines:\n%s\nwant:\n%s\nfile:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"), after)
	}
}

// wantReplaced checks that after is before with the text old, which must
// occur once, replaced by new.
func wantReplaced(t *testing.T, before, after, old, new string) {
	t.Helper()
	if strings.Count(before, old) != 1 {
		t.Fatalf("the test's fragment occurs %d times", strings.Count(before, old))
	}
	if want := strings.Replace(before, old, new, 1); after != want {
		t.Fatalf("Edit gave (diff from what was wanted):\n%s", udiff.Unified("want", "got", want, after))
	}
}

func service(c *model.Config, name string) *model.Service {
	for i := range c.Services {
		if c.Services[i].Name == name {
			return &c.Services[i]
		}
	}
	return nil
}

func TestEditUnchangedIsIdentical(t *testing.T) {
	files := map[string]string{"commented": commented,
		"crlf":    strings.ReplaceAll(commented, "\n", "\r\n"),
		"no-eol":  strings.TrimSuffix(commented, "\n"),
		"lone-cr": strings.ReplaceAll(commented, "\n", "\r")}
	paths, _ := filepath.Glob("testdata/*.cf")
	paths = append(paths, "../demo/lvs.cf")
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files[p] = string(b)
	}
	for name, src := range files {
		if out := edit(t, src, func(*model.Config) {}); out != src {
			t.Errorf("%s: unchanged model, changed file:\n%s", name, udiff.Unified("before", "after", src, out))
		}
	}
}

func TestEditWeightChangesOneLine(t *testing.T) {
	out := edit(t, commented, func(c *model.Config) { service(c, "shop").RealServers[0].Weight = 7 })
	wantChanges(t, commented, out, "-\t\tweight = 5", "+\t\tweight = 7")
}

func TestEditSerialKeepsSpelling(t *testing.T) {
	out := edit(t, commented, func(c *model.Config) {
		c.Global.SerialNo = 42
		service(c, "shop").Check.Interval = 12e9
	})
	// The duplicate's last line is the one that counts, and changes;
	// port = http stays as written.
	wantChanges(t, commented, out, "-serial_no = 41", "+serial_no = 42", "-\ttimeout = 10", "+\ttimeout = 12")
}

func TestEditNewServerAfterSiblings(t *testing.T) {
	out := edit(t, commented, func(c *model.Config) {
		s := service(c, "shop")
		rs := model.DefaultRealServer("web3")
		rs.Addr, rs.Port, rs.Active, rs.Weight = netip.MustParseAddr("198.51.100.23"), 80, true, 3
		s.RealServers = append(s.RealServers, rs)
	})
	wantReplaced(t, commented, out, "\t\tweight = 10\n\t}\n", "\t\tweight = 10\n\t}\n\n\tserver web3 {\n"+
		"\t\taddress = 198.51.100.23\n\t\tactive = 1\n\t\tweight = 3\n\t}\n")
}

func TestEditRemovedServerTakesItsComment(t *testing.T) {
	out := edit(t, commented, func(c *model.Config) {
		s := service(c, "shop")
		s.RealServers = s.RealServers[1:]
	})
	wantChanges(t, commented, out, "-", "-\t# the old box, half the weight", "-\tserver web1 {",
		"-\t\taddress = 198.51.100.21", "-\t\tactive = 1", "-\t\tweight = 5", "-\t}")
}

func TestEditRemovedLastServer(t *testing.T) {
	out := edit(t, commented, func(c *model.Config) {
		s := service(c, "mail")
		s.RealServers = nil
	})
	wantChanges(t, commented, out, "-", "-\tserver mx1 {", "-\t\taddress = 198.51.100.31", "-\t\tactive = 1", "-\t}")
}

func TestEditNewService(t *testing.T) {
	out := edit(t, commented, func(c *model.Config) {
		s := model.DefaultService("api")
		s.Active, s.VIP, s.Device, s.Port, s.Scheduler = true, netip.MustParseAddr("192.0.2.102"), "eth0:3", 8443, model.SchedRR
		rs := model.DefaultRealServer("api1")
		rs.Addr, rs.Port, rs.Active = netip.MustParseAddr("198.51.100.41"), 8443, true
		s.RealServers = []model.RealServer{rs}
		c.Services = append(c.Services, s)
	})
	// After mail, before the failover block the model does not hold.
	wantReplaced(t, commented, out, "\t\taddress = 198.51.100.31\n\t\tactive = 1\n\t}\n}\n",
		"\t\taddress = 198.51.100.31\n\t\tactive = 1\n\t}\n}\n\nvirtual api {\n\tactive = 1\n"+
			"\taddress = 192.0.2.102 eth0:3\n\tport = 8443\n\tscheduler = rr\n\n\tserver api1 {\n"+
			"\t\taddress = 198.51.100.41\n\t\tactive = 1\n\t}\n}\n")
}

func TestEditRemovedService(t *testing.T) {
	out := edit(t, commented, func(c *model.Config) { c.Services = c.Services[:1] })
	i, j := strings.Index(commented, "# Mail"), strings.Index(commented, "failover legacy")
	wantReplaced(t, commented, out, commented[i:j], "")
}

func TestEditBackToDefaultDropsTheLine(t *testing.T) {
	out := edit(t, commented, func(c *model.Config) {
		service(c, "mail").Scheduler = model.DefaultScheduler
		service(c, "shop").Scheduler = model.SchedLC
	})
	wantChanges(t, commented, out, "-\tscheduler = wlc", "+\tscheduler = lc", "-\tscheduler = rr")
}

func TestEditNewKeywordInBlockStyle(t *testing.T) {
	out := edit(t, commented, func(c *model.Config) {
		service(c, "mail").Persistence.Timeout = 300e9
		service(c, "mail").RealServers[0].Weight = 2
		c.Global.ExpireNodestConn = true
	})
	wantChanges(t, commented, out, "+expire_nodest_conn = 1", "+\tpersistent = 300", "+\t\tweight = 2")
}

func TestEditRenameInPlace(t *testing.T) {
	out := edit(t, commented, func(c *model.Config) { service(c, "shop").RealServers[1].Name = "web2b" })
	wantChanges(t, commented, out, "-\tserver web2 {", "+\tserver web2b {")
}

func TestEditKeepsCRLF(t *testing.T) {
	src := strings.ReplaceAll(commented, "\n", "\r\n")
	out := edit(t, src, func(c *model.Config) {
		s := service(c, "mail")
		rs := model.DefaultRealServer("mx2")
		rs.Addr, rs.Active = netip.MustParseAddr("198.51.100.32"), true
		s.RealServers = append(s.RealServers, rs)
	})
	if strings.Count(out, "\n") != strings.Count(out, "\r\n") || !strings.Contains(out, "\tserver mx2 {\r\n") {
		t.Fatalf("line endings mixed:\n%q", out)
	}
}

func TestEditStaleFileIsRewritten(t *testing.T) {
	from := parseText(t, commented)
	to := parseText(t, commented)
	to.Global.SerialNo = 42
	// The file on disk was changed after it was loaded.
	disk := strings.Replace(commented, "weight = 5", "weight = 6", 1)
	out, why, err := Edit([]byte(disk), from, to)
	if err != nil || why == "" {
		t.Fatalf("Edit of a file that moved on: %q, %v", why, err)
	}
	if !sameModel(out, mustWrite(t, to)) {
		t.Fatalf("the rewritten file does not describe the edit:\n%s", out)
	}
}

func mustWrite(t *testing.T, c *model.Config) []byte {
	t.Helper()
	var b strings.Builder
	if err := Write(&b, c); err != nil {
		t.Fatal(err)
	}
	return []byte(b.String())
}
