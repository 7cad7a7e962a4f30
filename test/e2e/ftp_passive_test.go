//go:build linux

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/govs/govs/internal/netnstest"
	"github.com/govs/govs/internal/testutil"
)

// The classic FTP mark service for IPv4 and for IPv6: 20,002 ports
// bundled, of which the proxy plane listens on two.
var ftpRangeCfg = ftpHeader + ftpMarkService("ftp", "203.0.113.100", "198.51.100.11") + "\n" +
	ftpMarkService("ftp6", "2001:db8::100", "2001:db8:1::11")

// The real server's passive ports, inside the bundle's range.
const pasvMin, pasvMax = 15000, 15099

// ftpRangeLimit is the router's descriptor limit: the usual default soft
// limit, far below one listener per bundled port.
const ftpRangeLimit = 1024

// TestFTPPassiveRange runs the IPv4 and IPv6 FTP mark services above under
// a descriptor limit of 1024, which listening on every bundled port would
// exceed twenty times over: the router starts, listens on port 21 of each
// VIP only, and curl's passive downloads and uploads through it, to
// vsftpd with its passive ports inside the range, arrive intact, their
// data connections made to the very port vsftpd announced.
func TestFTPPassiveRange(t *testing.T) {
	netnstest.Require(t)
	vsftpd, err := exec.LookPath("vsftpd")
	if err != nil {
		t.Skip("FTP test: needs Debian's vsftpd (scripts/deps.sh installs it)")
	}
	for _, tool := range []string{"curl", "prlimit", "ss"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("FTP test: needs %s (curl from scripts/deps.sh, prlimit from util-linux, ss from iproute2)", tool)
		}
	}
	ftpUser, err := user.Lookup("ftp")
	if err != nil {
		t.Skip("FTP test: needs the ftp user that Debian's vsftpd package creates")
	}
	uid, _ := strconv.Atoi(ftpUser.Uid)
	gid, _ := strconv.Atoi(ftpUser.Gid)

	client := netnstest.New(t, "client")
	rtr := netnstest.New(t, "router")
	rs := netnstest.New(t, "rs1")
	netnstest.Veth(t, client, "c0", rtr, "r0")
	client.Addr("c0", "203.0.113.2/24")
	client.Addr("c0", "2001:db8::2/64")
	rtr.Addr("r0", "203.0.113.1/24")
	rtr.Addr("r0", "203.0.113.100/32")
	rtr.Addr("r0", "2001:db8::1/64")
	rtr.Addr("r0", "2001:db8::100/128")
	netnstest.Veth(t, rs, "eth0", rtr, "p0")
	rtr.Addr("p0", "198.51.100.1/24")
	rtr.Addr("p0", "2001:db8:1::1/64")
	rs.Addr("eth0", "198.51.100.11/24")
	rs.Addr("eth0", "2001:db8:1::11/64")

	base := t.TempDir()
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	const size = 4 << 20
	src := filepath.Join(base, "file.bin")
	sum := testutil.WriteRandom(t, src, 2, size)
	// One vsftpd per family.
	for _, addr := range []string{"198.51.100.11", "2001:db8:1::11"} {
		dir := filepath.Join(base, "v"+map[bool]string{true: "6", false: "4"}[strings.Contains(addr, ":")])
		testutil.VsftpdDir(t, dir, uid, gid)
		if err := os.Link(src, dir+"/root/file.bin"); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "vsftpd.conf")
		writeFile(t, path, vsftpdConf(dir, addr, pasvMin, pasvMax))
		rs.Start(nil, vsftpd, path)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for _, url := range []string{"ftp://198.51.100.11/", "ftp://[2001:db8:1::11]/"} {
		waitFTP(t, ctx, rs, url)
	}

	cfgPath := filepath.Join(t.TempDir(), "lvs.cf")
	writeFile(t, cfgPath, ftpRangeCfg)
	if out, _, code := govs(t, "check", "-c", cfgPath); code != 0 {
		t.Fatalf("govs check: exit %d\n%s", code, out)
	}
	limit := fmt.Sprintf("--nofile=%d:%d", ftpRangeLimit, ftpRangeLimit)
	r := startRouter(t, []string{"ip", "netns", "exec", rtr.Name, "prlimit", limit, "--"}, cfgPath)

	listening := func() []string {
		t.Helper()
		var tcp []string
		for _, l := range strings.Split(strings.TrimSpace(rtr.Run("ss", "-Hltn")), "\n") {
			if f := strings.Fields(l); len(f) >= 4 {
				tcp = append(tcp, f[3])
			}
		}
		return tcp
	}
	if got := listening(); len(got) != 2 {
		t.Errorf("router listens on %d TCP ports %.200v, want port 21 of each VIP", len(got), got)
	}

	// curl -v names every endpoint it connects to.
	tryRE := regexp.MustCompile(`Trying \[?([0-9a-fA-F.:]+?)\]?:(\d+)\.\.\.`)
	out := t.TempDir()
	var ports []int
	run := func(name string, args ...string) {
		t.Helper()
		args = append([]string{"curl", "-sS", "-v", "-g", "--max-time", "60"}, args...)
		o, err := client.Try(ctx, args...)
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, o)
		}
		var data []int
		for _, m := range tryRE.FindAllStringSubmatch(o, -1) {
			if p, _ := strconv.Atoi(m[2]); p != 21 {
				data = append(data, p)
			}
		}
		ports = append(ports, data...)
		if len(data) != 1 || data[0] < pasvMin || data[0] > pasvMax {
			t.Errorf("%s: data connections to ports %v, want one to vsftpd's %d-%d\n%s", name, data, pasvMin, pasvMax, o)
		}
	}
	cases := []struct {
		name, vip, dir string
		args           []string
	}{
		{"ipv4 epsv", "203.0.113.100", "v4", nil},
		{"ipv4 pasv", "203.0.113.100", "v4", []string{"--disable-epsv", "--no-ftp-skip-pasv-ip"}},
		{"ipv6 epsv", "[2001:db8::100]", "v6", nil},
	}
	for i, c := range cases {
		got := filepath.Join(out, fmt.Sprintf("down%d.bin", i))
		run(c.name+" download", append(c.args, "-o", got, "ftp://"+c.vip+"/file.bin")...)
		if s, err := testutil.FileSHA256(got); err != nil || s != sum {
			t.Errorf("%s download: sha256 %s (%v), want %s", c.name, s, err, sum)
		}
		up := fmt.Sprintf("up%d.bin", i)
		run(c.name+" upload", append(c.args, "-T", src, "ftp://"+c.vip+"/upload/"+up)...)
		if s, err := testutil.FileSHA256(filepath.Join(base, c.dir, "root/upload", up)); err != nil || s != sum {
			t.Errorf("%s upload: sha256 %s (%v), want %s", c.name, s, err, sum)
		}
	}
	got := listening()
	if len(got) != 2 {
		t.Errorf("after the transfers the router listens on %v, want port 21 of each VIP", got)
	}
	select {
	case <-r.done:
		t.Fatalf("govs run exited: %v", r.err)
	default:
	}
	t.Logf("under %d descriptors: listening on %v; %d transfers of %d bytes intact, data connections to ports %v",
		ftpRangeLimit, got, 2*len(cases), size, ports)
}
