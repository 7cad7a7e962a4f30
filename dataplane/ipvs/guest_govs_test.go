//go:build linux

package ipvs

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/govs/govs/internal/testutil"
)

// govsBinary is the static govs binary run.sh puts in the guest's image.
const govsBinary = "/govs"

// The router's configuration for TestGuestGovsBinary: a firewall-mark
// service bundling 80 and 443 on a VIP of its own, NAT to rs1 and rs2.
// %d is rs1's weight; %s is an extra line at the end of rs2's block.
const govsConfig = `serial_no = 1
primary = 203.0.113.1
service = lvs
network = nat

virtual bundle {
    active = 1
    address = 192.0.2.50 lo
    protocol = tcp
    port = 80
    fwmark = 50
    fwmark_ports = 80,443
    persistent = 300
    scheduler = rr
    check_type = none
    server rs1 {
        address = 198.51.100.11
        active = 1
        weight = %d
    }
    server rs2 {
        address = 198.51.100.12
        active = 1
        weight = 1
%s    }
}
`

// govsCmd runs the govs binary with the default control socket.
func govsCmd(args ...string) (string, error) { return run(append([]string{govsBinary}, args...)...) }

// dropFirstLine removes a listing's title line.
func dropFirstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// stripStateColumn removes the State column govs list adds to its default
// view (the govs extension; every real server here is up), leaving what
// ipvsadm -L -n prints.
func stripStateColumn(s string) string {
	lines := strings.SplitAfter(s, "\n")
	for i, l := range lines {
		body := strings.TrimSuffix(l, "\n")
		switch {
		case strings.HasSuffix(body, "  State"):
			body = strings.TrimSuffix(body, "  State")
		case strings.HasPrefix(body, "  ->"):
			if j := strings.LastIndexByte(body, ' '); j >= 0 {
				body = body[:j]
			}
		}
		if strings.HasSuffix(l, "\n") {
			body += "\n"
		}
		lines[i] = body
	}
	return strings.Join(lines, "")
}

// The real govs binary on the kernel plane: `govs run` with no dataplane
// line picks IPVS as root, installs the mark service and its nftables
// rule, lists what ipvsadm lists, reloads a weight without a flush,
// refuses a bad file with its FILE:LINE and leaves the kernel alone, and on
// SIGTERM removes what it installed and nothing else.
func TestGuestGovsBinary(t *testing.T) {
	topology(t)
	if _, err := os.Stat(govsBinary); err != nil {
		t.Fatalf("no govs binary in the guest (run.sh builds it): %v", err)
	}
	vip := "192.0.2.50"
	mustRun(t, "ip", "addr", "add", vip+"/32", "dev", "lo")
	t.Cleanup(func() { _, _ = run("ip", "addr", "del", vip+"/32", "dev", "lo") })

	dir := t.TempDir()
	cfg := dir + "/lvs.cf"
	write := func(weight int, extra string) {
		t.Helper()
		if err := os.WriteFile(cfg, []byte(fmt.Sprintf(govsConfig, weight, extra)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(1, "")

	// 1. govs run, dataplane auto (no dataplane line), as root.
	log := &testutil.Buffer{}
	cmd := exec.Command(govsBinary, "run", "-c", cfg, "--drain-timeout", "500ms")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("govs run log:\n%s", log.String())
		}
	})
	testutil.WaitFor(t, 20*time.Second, "govs run serving", func() bool {
		return strings.Contains(log.String(), "control socket ready")
	})
	if !strings.Contains(log.String(), "dataplane auto: using the kernel IPVS plane") {
		t.Fatalf("govs run did not pick the kernel IPVS plane:\n%s", log.String())
	}
	nft := mustRun(t, "nft", "list", "table", "inet", "govs")
	if !strings.Contains(nft, "ip daddr "+vip+" tcp dport { 80, 443 } meta mark set 0x00000032") {
		t.Fatalf("govs's mark rule missing:\n%s", nft)
	}
	kernelStats := func() string { return dropFirstLine(mustRun(t, "ipvsadm", "-L", "-n", "--stats")) }
	// The service line's Conns column.
	serviceConns := func(stats string) int {
		t.Helper()
		lines := strings.Split(stats, "\n")
		if len(lines) < 3 {
			t.Fatalf("stats listing:\n%s", stats)
		}
		f := strings.Fields(lines[2])
		if len(f) < 3 || f[0] != "FWM" {
			t.Fatalf("stats service line %q", f)
		}
		var n int
		if _, err := fmt.Sscan(f[2], &n); err != nil {
			t.Fatalf("stats service line %q: %v", f, err)
		}
		return n
	}
	// Both lag the traffic: the kernel sums its per-CPU counters every
	// 2 s, and govs mirrors them every 2 s.
	statsMatch := func(minConns int) {
		t.Helper()
		testutil.Eventually(t, 10*time.Second, func() error {
			want := kernelStats()
			if got := dropFirstLine(mustRun(t, govsBinary, "list", "--stats")); got != want || serviceConns(want) < minConns {
				return fmt.Errorf("govs list --stats (want at least %d connections):\n%s\nipvsadm -L -n --stats:\n%s", minConns, got, want)
			}
			return nil
		})
	}
	// Before any traffic, both show zeros.
	statsMatch(0)
	first, err := name(vip + ":80")
	if err != nil {
		t.Fatalf("marked port 80: %v", err)
	}
	for i := range 4 {
		port := []string{"443", "80"}[i%2]
		n, err := name(vip + ":" + port)
		if err != nil {
			t.Fatalf("marked port %s: %v", port, err)
		}
		if n != first {
			t.Fatalf("port %s went to %s, port 80 to %s: persistence does not span the bundle", port, n, first)
		}
	}
	if first != "rs1" && first != "rs2" {
		t.Fatalf("answered by %s", first)
	}

	// 2. govs list --stats follows the kernel's counters, and govs list -n
	// reads as ipvsadm -L -n.
	statsMatch(5)
	list := mustRun(t, govsBinary, "list", "-n")
	if title, _, _ := strings.Cut(list, "\n"); !strings.Contains(title, "ipvs plane (1 service)") {
		t.Errorf("govs list title %q", title)
	}
	// The connection counts are the kernel's, mirrored every 2 s.
	var got string
	testutil.Eventually(t, 8*time.Second, func() error {
		got = stripStateColumn(dropFirstLine(list))
		if want := ipvsadmList(t); got != want {
			list = mustRun(t, govsBinary, "list", "-n")
			return fmt.Errorf("govs list -n:\n%s\nipvsadm -L -n:\n%s", got, want)
		}
		return nil
	})
	t.Logf("govs list -n, as ipvsadm -L -n:\n%s", got)
	listingOptionsMatch(t)
	// govs zero is ipvsadm -Z: the kernel's counters of govs's service
	// read 0, and govs list --stats with them.
	if out, err := govsCmd("zero", "-f", "50"); err != nil || out != "zeroed the counters of 1 service(s): FWM  50\n" {
		t.Fatalf("govs zero -f 50: %v %q", err, out)
	}
	if conns := serviceConns(kernelStats()); conns != 0 {
		t.Fatalf("the kernel's FWM 50 still counts %d connections after govs zero", conns)
	}
	statsMatch(0)

	// 3. A reload changes one weight without a flush: a connection open
	// across it carries on.
	_, conn, err := greet(vip + ":80")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	write(3, "")
	if out, err := govsCmd("reload"); err != nil || out != "reloaded: serial_no 1 → 1: 1 real server reweighted (reloads: 1 applied, 0 refused)\n" {
		t.Fatalf("govs reload: %v\n%s", err, out)
	}
	if l := ipvsadmList(t); !strings.Contains(l, "198.51.100.11:0") || !hasWeight(l, "198.51.100.11:0", "3") {
		t.Fatalf("the reload's weight is not in the kernel:\n%s", l)
	}
	if err := echo(conn); err != nil {
		t.Fatalf("a connection open across the reload: %v", err)
	}
	// The one change the reload made is that weight.
	changes := []string{}
	for _, l := range strings.Split(log.String(), "\n") {
		if strings.Contains(l, `msg="ipvs: kernel table"`) {
			changes = append(changes, l)
		}
	}
	if len(changes) != 4 || !strings.Contains(changes[3], `change="edit real server 198.51.100.11:0 of FWM  50 (nat, weight 3)"`) {
		t.Fatalf("the kernel changes, want the three of the start and the weight's:\n%s", strings.Join(changes, "\n"))
	}
	// A bad file is refused with FILE:LINE and changes nothing.
	before, nftBefore := ipvsadmList(t), mustRun(t, "nft", "list", "table", "inet", "govs")
	write(3, "        weight = lots\n")
	out, err := govsCmd("reload")
	if err == nil {
		t.Fatalf("govs reload accepted a bad file:\n%s", out)
	}
	src, _ := os.ReadFile(cfg)
	badLine := strings.Count(string(src[:strings.Index(string(src), "lots")]), "\n") + 1
	if want := fmt.Sprintf("%s:%d:", cfg, badLine); !strings.Contains(out, want) {
		t.Fatalf("govs reload's refusal does not name %s:\n%s", want, out)
	}
	if after := ipvsadmList(t); after != before {
		t.Fatalf("a refused reload changed the kernel:\n%s\nwas:\n%s", after, before)
	}
	if after := mustRun(t, "nft", "list", "table", "inet", "govs"); after != nftBefore {
		t.Fatalf("a refused reload changed the rules:\n%s\nwas:\n%s", after, nftBefore)
	}
	if err := echo(conn); err != nil {
		t.Fatalf("a connection open across the refused reload: %v", err)
	}
	conn.Close()

	// 4. SIGTERM: govs removes its service and its table, and leaves a
	// service someone added with ipvsadm.
	foreign := "192.0.2.51:80"
	mustRun(t, "ipvsadm", "-A", "-t", foreign, "-s", "rr")
	t.Cleanup(func() { _, _ = run("ipvsadm", "-D", "-t", foreign) })
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		stopped = true
		if err != nil {
			t.Fatalf("govs run on SIGTERM: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("govs run did not stop within 15s of SIGTERM")
	}
	l := ipvsadmList(t)
	if strings.Contains(l, "FWM  50") || strings.Contains(l, "198.51.100.11") {
		t.Fatalf("govs left its service behind:\n%s", l)
	}
	if !strings.Contains(l, "TCP  "+foreign+" rr") {
		t.Fatalf("govs removed the foreign service:\n%s", l)
	}
	if out, err := run("nft", "list", "table", "inet", "govs"); err == nil {
		t.Fatalf("govs left its nftables table behind:\n%s", out)
	}
	if _, err := net.DialTimeout("unix", "/run/govs/govs.sock", time.Second); err == nil {
		t.Error("the control socket still answers after govs stopped")
	}
}

// listingOptionsMatch holds govs list to ipvsadm for each of ipvsadm's
// listing options: the same bytes after the title line (which ipvsadm
// leaves out for one service and for --timeout, and so does govs), with
// the State column of govs's default view taken off. Counters and rates
// are mirrored from the kernel every 2 s, so each is given a few tries.
func listingOptionsMatch(t *testing.T) {
	t.Helper()
	for _, c := range []struct {
		govs, ipvsadm []string
		title, state  bool
	}{
		{[]string{"-Ln"}, []string{"-Ln"}, true, true},
		{[]string{"--thresholds"}, []string{"-L", "-n", "--thresholds"}, true, false},
		{[]string{"--persistent-conn"}, []string{"-L", "-n", "--persistent-conn"}, true, false},
		{[]string{"--stats", "--exact"}, []string{"-L", "-n", "--stats", "--exact"}, true, false},
		{[]string{"--rate", "--exact"}, []string{"-L", "-n", "--rate", "--exact"}, true, false},
		{[]string{"-L", "-n", "-f", "50"}, []string{"-L", "-n", "-f", "50"}, false, true},
		{[]string{"--stats", "--fwmark-service", "50"}, []string{"-L", "-n", "--stats", "--fwmark-service", "50"}, false, false},
		{[]string{"--timeout"}, []string{"-L", "--timeout"}, false, false},
	} {
		testutil.Eventually(t, 10*time.Second, func() error {
			got := mustRun(t, append([]string{govsBinary, "list"}, c.govs...)...)
			want := mustRun(t, append([]string{"ipvsadm"}, c.ipvsadm...)...)
			if c.title {
				got, want = dropFirstLine(got), dropFirstLine(want)
			}
			if c.state {
				got = stripStateColumn(got)
			}
			if got != want {
				return fmt.Errorf("govs list %s:\n%s\nipvsadm %s:\n%s", strings.Join(c.govs, " "), got,
					strings.Join(c.ipvsadm, " "), want)
			}
			return nil
		})
	}
}

// hasWeight reports whether a real server's line in an ipvsadm listing
// shows weight w.
func hasWeight(list, dest, w string) bool {
	for _, l := range strings.Split(list, "\n") {
		f := strings.Fields(l)
		if len(f) >= 4 && f[0] == "->" && f[1] == dest {
			return f[3] == w
		}
	}
	return false
}
