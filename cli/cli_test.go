package cli

import (
	"bytes"
	"context"
	"github.com/govs/govs/control"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
)

func runCLI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := MainContext(context.Background(), args, strings.NewReader(""), &out, &errb)
	return out.String(), errb.String(), code
}

func TestUsageAndExitCodes(t *testing.T) {
	if _, errOut, code := runCLI(t); code != ExitUsage || !strings.Contains(errOut, "Commands:") {
		t.Errorf("no command: code %d\n%s", code, errOut)
	}
	if _, errOut, code := runCLI(t, "frobnicate"); code != ExitUsage || !strings.Contains(errOut, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: code %d\n%s", code, errOut)
	}
	if _, errOut, code := runCLI(t, "list", "--bogus"); code != ExitUsage || !strings.Contains(errOut, "bogus") {
		t.Errorf("unknown flag: code %d\n%s", code, errOut)
	}
	if _, _, code := runCLI(t, "list", "extra"); code != ExitUsage {
		t.Errorf("stray argument: code %d", code)
	}
	if out, _, code := runCLI(t, "version"); code != ExitOK || out != "govs "+Version+"\n" {
		t.Errorf("version: %d %q", code, out)
	}
	out, _, code := runCLI(t, "--help")
	if code != ExitOK {
		t.Fatalf("--help: code %d", code)
	}
	for name := range commands() {
		if !strings.Contains(out, "  "+name+" ") {
			t.Errorf("--help does not list %s:\n%s", name, out)
		}
	}
}

// Every command's help names every flag it takes.
func TestCommandHelpNamesFlags(t *testing.T) {
	want := map[string][]string{
		"run":    {"-c", "-socket", "-drain-timeout", "-log-level", "-log-format"},
		"check":  {"-c", "-dataplane"},
		"list":   {"-n", "-stats", "-rate", "-c", "-json", "-socket"},
		"reload": {"-socket"},
		"status": {"-json", "-socket"},
		"demo":   {"-socket", "-log-level"},
	}
	for cmd, flags := range want {
		_, errOut, code := runCLI(t, "help", cmd)
		if code != ExitOK {
			t.Errorf("help %s: code %d", cmd, code)
		}
		for _, f := range flags {
			if !regexp.MustCompile(`\n  ` + regexp.QuoteMeta(f) + `[ \t\n]`).MatchString(errOut) {
				t.Errorf("help %s does not name %s:\n%s", cmd, f, errOut)
			}
		}
	}
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.cf")
	os.WriteFile(good, []byte("primary = 192.0.2.1\nvirtual web {\n active = 1\n address = 192.0.2.100 eth0:1\n"+
		" network_bogus = 1\n}\n"), 0o600)
	_, errOut, code := runCLI(t, "check", "-c", good)
	if code != ExitFailure || !strings.Contains(errOut, good+":5:") {
		t.Errorf("bad file: code %d\n%s", code, errOut)
	}

	direct := filepath.Join(dir, "direct.cf")
	direct0 := "primary = 192.0.2.1\nnetwork = direct\nvirtual web {\n active = 1\n" +
		" address = 127.0.0.1 lo\n port = 1\n server a {\n  address = 127.0.0.2\n  active = 1\n }\n}\n"
	os.WriteFile(direct, []byte(direct0), 0o600)
	// A valid Piranha file passes check; the proxy plane's limits are
	// warnings there, errors with --dataplane and for run.
	out, errOut, code := runCLI(t, "check", "-c", direct)
	if code != ExitOK || !strings.Contains(out, "OK") || !strings.Contains(errOut, "warning") {
		t.Errorf("check of a direct-routing file: code %d\n%s%s", code, out, errOut)
	}
	// --strict refuses the warnings.
	if out, errOut, code := runCLI(t, "check", "--strict", direct); code != ExitFailure || out != "" ||
		!strings.Contains(errOut, "warning(s), refused by --strict") {
		t.Errorf("check --strict of a file with warnings: code %d\n%s%s", code, out, errOut)
	}
	if _, errOut, code := runCLI(t, "check", "-c", direct, "--dataplane", "proxy"); code != ExitFailure || !strings.Contains(errOut, direct+":2:") {
		t.Errorf("check --dataplane proxy: code %d\n%s", code, errOut)
	}
	// The file as one types it, before or after the flags.
	if _, errOut, code := runCLI(t, "check", direct, "--dataplane", "proxy"); code != ExitFailure || !strings.Contains(errOut, direct+":2:") {
		t.Errorf("check FILE --dataplane proxy: code %d\n%s", code, errOut)
	}
	if out, _, code := runCLI(t, "check", "--dataplane", "ipvs", direct); code != ExitOK || !strings.Contains(out, direct+": OK") {
		t.Errorf("check --dataplane ipvs FILE: code %d\n%s", code, out)
	}
	if _, errOut, code := runCLI(t, "check", direct, good); code != ExitUsage || !strings.Contains(errOut, "unexpected arguments: "+good) {
		t.Errorf("check of two files: code %d\n%s", code, errOut)
	}
	// run refuses it on the proxy plane, with the line. (The file names
	// the plane: under auto, a root run on a kernel with IPVS would
	// program the kernel.)
	proxyDirect := filepath.Join(dir, "proxy-direct.cf")
	os.WriteFile(proxyDirect, []byte("dataplane = proxy\n"+direct0), 0o600)
	_, errOut, code = runCLI(t, "run", "-c", proxyDirect, "--socket", filepath.Join(dir, "s.sock"))
	if code != ExitFailure || !strings.Contains(errOut, proxyDirect+":3:") {
		t.Errorf("run of a direct-routing file on the proxy plane: code %d\n%s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "s.sock")); err == nil {
		t.Error("a refused run left a control socket behind")
	}
}

// GOVS_SOCKET names the socket for every command; ipvsadm's -L is
// accepted by govs list.
func TestSocketFromEnvironment(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "env.sock")
	t.Setenv("GOVS_SOCKET", sock)
	_, errOut, code := runCLI(t, "list", "-L", "-n")
	if code != ExitUnreachable || !strings.Contains(errOut, sock) {
		t.Errorf("govs list -L -n with GOVS_SOCKET: code %d\n%s", code, errOut)
	}
}

func TestClientWithoutRouter(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "none.sock")
	for _, cmd := range [][]string{{"list"}, {"reload"}, {"status"}, {"history"}, {"history", "2"}, {"rollback", "1"}} {
		_, errOut, code := runCLI(t, append(cmd, "--socket", sock)...)
		if code != ExitUnreachable || !strings.Contains(errOut, sock) {
			t.Errorf("%s without a router: code %d\n%s", cmd, code, errOut)
		}
	}
}

// A revision is a positive number, and rollback needs one.
func TestHistoryArguments(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"rollback"}, "govs rollback: which revision?"},
		{[]string{"rollback", "x"}, `govs rollback: "x" is not a revision number (see govs history)`},
		{[]string{"history", "0"}, `govs history: "0" is not a revision number (see govs history)`},
		{[]string{"history", "1", "2"}, "govs history: unexpected arguments: 2"},
	} {
		_, errOut, code := runCLI(t, tt.args...)
		if code != ExitUsage || !strings.Contains(errOut, tt.want) {
			t.Errorf("govs %v: code %d\n%s", tt.args, code, errOut)
		}
	}
}

func TestRealServerSetupPrints(t *testing.T) {
	out, errOut, code := runCLI(t, "realserver", "setup", "--mode", "direct", "--vip", "192.0.2.100")
	if code != ExitOK || !strings.Contains(out, "ip addr add 192.0.2.100/32 dev lo") || !strings.Contains(out, "arp_ignore=1") ||
		!strings.Contains(out, "arp_announce=2") {
		t.Fatalf("setup direct: code %d\n%s%s", code, out, errOut)
	}
	if _, _, code := runCLI(t, "realserver", "setup", "--mode", "nat", "--vip", "192.0.2.100"); code != ExitUsage {
		t.Errorf("setup nat: code %d, want %d", code, ExitUsage)
	}
	if _, _, code := runCLI(t, "realserver", "setup", "--mode", "direct", "--vip", "nope"); code != ExitUsage {
		t.Errorf("setup with a bad VIP: code %d", code)
	}
}

// ipvsadm's service arguments are checked before the router is asked,
// with what to type instead.
func TestListServiceArguments(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-t", "192.0.2.1"}, `"192.0.2.1": want VIP:PORT, e.g. 192.0.2.10:80 or [2001:db8::10]:443`},
		{[]string{"-u", "2001:db8::1:53"}, `"2001:db8::1:53": want VIP:PORT`},
		{[]string{"-t", "192.0.2.1:nosuch"}, `"192.0.2.1:nosuch": `},
		{[]string{"-f", "0"}, `-f "0": want a firewall mark, a number from 1 to 4294967295`},
		{[]string{"-t", "192.0.2.1:80", "-f", "7"}, "-t, -u and -f name one service: give one of them"},
		{[]string{"--stats", "--rate"}, "--stats and --rate are exclusive"},
		{[]string{"-Lx"}, "flag provided but not defined: -Lx"},
	} {
		_, errOut, code := runCLI(t, append([]string{"list"}, c.args...)...)
		if code != ExitUsage || !strings.Contains(errOut, c.want) {
			t.Errorf("list %v: code %d, %q; want usage error %q", c.args, code, errOut, c.want)
		}
	}
}

func TestExpandShortFlags(t *testing.T) {
	got := expandShortFlags([]string{"-Ln", "-lnc", "-t", "192.0.2.1:80", "--stats", "-n", "-Lt", "--", "-Ln"}, "Llnc")
	want := []string{"-L", "-n", "-l", "-n", "-c", "-t", "192.0.2.1:80", "--stats", "-n", "-Lt", "--", "-Ln"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

// A mistyped command or flag is answered with what was likely meant.
func TestDidYouMean(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"lsit"}, `govs: unknown command "lsit" (did you mean "list"?)`},
		{[]string{"help", "relaod"}, `govs: unknown command "relaod" (did you mean "reload"?)`},
		{[]string{"list", "--stat"}, "govs list: flag provided but not defined: -stat (did you mean --stats?)\nRun `govs help list` for its flags."},
		{[]string{"list", "--thresholds", "--persistent-con"}, "(did you mean --persistent-conn?)"},
		{[]string{"zero", "-x", "1"}, "govs zero: flag provided but not defined: -x\nRun `govs help zero` for its flags."},
		{[]string{"status", "--jsn"}, "(did you mean --json?)"},
	} {
		_, errOut, code := runCLI(t, c.args...)
		if code != ExitUsage || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: code %d, %q; want %q", c.args, code, errOut, c.want)
		}
	}
	// Nothing close: the list of commands.
	if _, errOut, _ := runCLI(t, "frobnicate"); !strings.Contains(errOut, "Commands:") {
		t.Errorf("unknown command without a guess: %q", errOut)
	}
	if _, _, code := runCLI(t, "zero", "-h"); code != ExitOK {
		t.Errorf("zero -h: code %d", code)
	}
}

// A router on a socket that another one holds is refused before it binds
// anything: the error is the socket's, even when its ports are taken too.
func TestBusySocketRefusedFirst(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("binds 127.0.0.11, which needs Linux's loopback /8")
	}
	sock := filepath.Join(t.TempDir(), "s.sock")
	ln, err := control.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	// The demo's first real server's port, taken.
	busy, err := net.Listen("tcp", "127.0.0.11:8080")
	if err != nil {
		t.Skipf("127.0.0.11:8080 is in use: %v", err)
	}
	defer busy.Close()
	_, errOut, code := runCLI(t, "demo", "--socket", sock)
	if code != ExitFailure || !strings.Contains(errOut, "govs demo: control socket:") {
		t.Errorf("demo on a busy socket: code %d, %q; want the socket's error", code, errOut)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "lvs.cf")
	os.WriteFile(cfg, []byte("dataplane = proxy\nvirtual web {\n active = 1\n address = 127.0.0.11 lo\n port = 8080\n"+
		" server a {\n  address = 127.0.0.12\n  active = 1\n }\n}\n"), 0o600)
	if _, errOut, code := runCLI(t, "run", "-c", cfg, "--socket", sock); code != ExitFailure || !strings.Contains(errOut, "govs run: control socket:") {
		t.Errorf("run on a busy socket: code %d, %q; want the socket's error", code, errOut)
	}
}
