//go:build linux

package ipvs

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/govs/govs/internal/testutil"
	"github.com/govs/govs/model"
)

// guestVsftpd is a real server's vsftpd for the kernel FTP tests, with
// the test's own listen lines. It listens on port 2121, leaving the
// suite's port-21 echo server alone.
func guestVsftpd(dir string, listen ...string) string {
	return testutil.VsftpdConf(dir, append(listen, "listen=YES", "listen_ipv6=NO", "listen_port=2121",
		"connect_from_port_20=YES", "pasv_min_port=10000", "pasv_max_port=10100")...)
}

// TestGuestFTP runs Debian's vsftpd on two real servers and curl as the
// client, through the kernel. The client cannot reach the real servers'
// own addresses, so a data connection works only through IPVS. 100 MB
// downloads and uploads, passive and active, are verified by SHA-256;
// several clients at once; every transfer is completed by the vsftpd
// session that received its command.
//
//   - nat: a NAT service on port 21 with ftp = 1. The plane loads
//     ip_vs_ftp, which rewrites the servers' 227 replies to the VIP and
//     lets their active connections out as the VIP; it expects active data
//     from the server's control port less one (vsftpd ftp_data_port=2120),
//     and knows PASV and PORT only.
//   - direct: Piranha's FTP mark service with direct routing: control port
//     and passive range under one persistent mark. The plane also marks
//     port 20, so the client's answers to the servers' active connections
//     (from VIP:20) reach the same real server; EPSV and EPRT work too, as
//     nothing is rewritten.
func TestGuestFTP(t *testing.T) {
	topology(t)
	t.Run("nat", func(t *testing.T) { guestFTP(t, false) })
	t.Run("direct", func(t *testing.T) { guestFTP(t, true) })
}

func guestFTP(t *testing.T, direct bool) {
	vsftpd, err := exec.LookPath("vsftpd")
	if err != nil {
		t.Skip("no vsftpd in the guest image (scripts/ipvs-vm/run.sh adds it)")
	}
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("no curl in the guest image (scripts/ipvs-vm/run.sh adds it)")
	}
	// Nothing but govs's plane prepares the kernel: IPVS registers
	// conntrack itself for a service bound to the FTP helper, which mangles
	// replies through it.
	// Only the VIP is reachable from the client.
	mustRun(t, "ip", "-n", "cl", "route", "add", "blackhole", "198.51.100.0/24")
	t.Cleanup(func() { _, _ = run("ip", "-n", "cl", "route", "del", "blackhole", "198.51.100.0/24") })
	clients := []string{"203.0.113.2", "203.0.113.3", "203.0.113.4"}
	for _, a := range clients[1:] {
		mustRun(t, "ip", "-n", "cl", "addr", "add", a+"/24", "dev", "c0")
		t.Cleanup(func() { _, _ = run("ip", "-n", "cl", "addr", "del", a+"/24", "dev", "c0") })
	}

	base := t.TempDir()
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(base, "big.bin")
	bigSum := testutil.WriteRandom(t, big, 7, 100<<20)
	dirs := make([]string, 2)
	for i := range dirs {
		dir := filepath.Join(base, fmt.Sprintf("rs%d", i+1))
		dirs[i] = dir
		testutil.VsftpdDir(t, dir, 100, 100)
		if err := os.Link(big, dir+"/root/big.bin"); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dir+"/root/small.bin", []byte(strings.Repeat("small file\n", 10000)), 0o644); err != nil {
			t.Fatal(err)
		}
		conf := filepath.Join(dir, "vsftpd.conf")
		listen := []string{"listen_address=" + gRS[i].String(), "ftp_data_port=2120"}
		if direct {
			// Any address: the control connection arrives for the VIP.
			listen = []string{"ftp_data_port=20"}
		}
		if err := os.WriteFile(conf, []byte(guestVsftpd(dir, listen...)), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("ip", "netns", "exec", fmt.Sprintf("rs%d", i+1), vsftpd, conf)
		var out testutil.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			if t.Failed() {
				log, _ := os.ReadFile(dir + "/vsftpd.log")
				t.Logf("rs%d vsftpd output: %s\nlog:\n%s", i+1, out.String(), log)
			}
		})
		var lastErr error
		for try := 0; ; try++ {
			_, lastErr = run("ip", "netns", "exec", fmt.Sprintf("rs%d", i+1), "curl", "-sS", "--max-time", "2",
				fmt.Sprintf("ftp://%s:2121/", gRS[i]))
			if lastErr == nil {
				break
			}
			if try == 100 {
				// vsftpd explains a refusal in its greeting ("500 OOPS: ...").
				var greeting string
				_ = inNS(fmt.Sprintf("rs%d", i+1), func() error {
					c, err := net.DialTimeout("tcp", hostPort(gRS[i], 2121), time.Second)
					if err != nil {
						return err
					}
					defer c.Close()
					_ = c.SetDeadline(time.Now().Add(time.Second))
					greeting, _ = bufio.NewReader(c).ReadString('\n')
					return nil
				})
				t.Fatalf("vsftpd on rs%d does not answer: %v; greeting %q", i+1, lastErr, greeting)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	var loaded []string
	g := newGuestPlane(t, Options{LoadModule: func(name string) error {
		loaded = append(loaded, name)
		return LoadModule(name)
	}})
	svc := gService("ftp", model.ProtoTCP, vipFTP, 21, model.SchedRR, gServer(0, 2121, 1, 0), gServer(1, 2121, 1, 0))
	url := "ftp://192.0.2.41/"
	if direct {
		svc = gService("ftp", model.ProtoTCP, vipDR, 2121, model.SchedRR,
			gServer(0, 0, 1, model.ForwardDR), gServer(1, 0, 1, model.ForwardDR))
		svc.FWMark = 21
		svc.MarkPorts = model.PortRanges{{First: 2121, Last: 2121}, {First: 10000, Last: 10100}}
		svc.Persistence = model.Persistence{Timeout: 300 * time.Second}
		url = "ftp://192.0.2.20:2121/"
	}
	svc.FTP = true
	g.apply(&model.Config{Global: model.Global{Network: model.ForwardNAT}, Services: []model.Service{svc}})
	if direct {
		if l := mustRun(t, "nft", "list", "table", "inet", "govs"); !strings.Contains(l, "tcp dport { 20, 2121, 10000-10100 }") {
			t.Fatalf("mark rules without port 20:\n%s", l)
		}
	}
	if len(loaded) != 1 || loaded[0] != FTPModule {
		t.Fatalf("modules loaded: %v", loaded)
	}
	if _, err := os.Stat("/sys/module/ip_vs_ftp"); err != nil {
		t.Fatalf("ip_vs_ftp not loaded: %v", err)
	}

	modes := map[string][]string{
		"pasv": {"--disable-epsv", "--no-ftp-skip-pasv-ip"},
		"port": {"--ftp-port", "-", "--disable-eprt"},
		"epsv": nil,
		"eprt": {"--ftp-port", "-"},
	}
	several := []string{"pasv", "port"}
	if direct {
		several = append(several, "epsv", "eprt")
	}
	curl := func(src, mode string, args ...string) error {
		a := append([]string{"ip", "netns", "exec", "cl", "curl", "-sS", "--max-time", "240", "--interface", src}, modes[mode]...)
		_, err := run(append(a, args...)...)
		return err
	}
	out := filepath.Join(base, "out.bin")
	for _, mode := range []string{"pasv", "port"} {
		if err := curl(clients[0], mode, "-o", out, url+"big.bin"); err != nil {
			t.Fatalf("%s download: %v", mode, err)
		}
		if sum, err := testutil.FileSHA256(out); err != nil || sum != bigSum {
			t.Fatalf("%s download: sha256 %s (%v), want %s", mode, sum, err, bigSum)
		}
		os.Remove(out)
		name := "big-" + mode + ".bin"
		if err := curl(clients[0], mode, "-T", big, url+"upload/"+name); err != nil {
			t.Fatalf("%s upload: %v", mode, err)
		}
		found := 0
		for i, dir := range dirs {
			p := filepath.Join(dir, "root/upload", name)
			if sum, err := testutil.FileSHA256(p); err == nil {
				found++
				if sum != bigSum {
					t.Errorf("%s upload on rs%d: sha256 %s, want %s", mode, i+1, sum, bigSum)
				}
				os.Remove(p)
			}
		}
		if found != 1 {
			t.Errorf("%s upload found on %d servers", mode, found)
		}
	}
	t.Logf("100 MB passive and active downloads and uploads through IPVS: sha256 %s", bigSum)

	// Several clients at once.
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for c, src := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, mode := range several {
				name := fmt.Sprintf("c%d-%s.bin", c, mode)
				o := filepath.Join(base, name)
				if err := curl(src, mode, "-o", o, url+"small.bin"); err != nil {
					errs <- fmt.Errorf("client %s %s download: %v", src, mode, err)
					return
				}
				if b, err := os.ReadFile(o); err != nil || len(b) != 110000 {
					errs <- fmt.Errorf("client %s %s download: %d bytes (%v)", src, mode, len(b), err)
				}
				if err := curl(src, mode, "-T", o, url+"upload/"+name); err != nil {
					errs <- fmt.Errorf("client %s %s upload: %v", src, mode, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	// Every transfer was completed by the session that received its
	// command, on the server that has the control connection.
	cmdRE := regexp.MustCompile(`\[pid (\d+)\] \[ftp\] FTP command: Client "([^"]*)", "(RETR|STOR) ([^"]*)"`)
	okRE := regexp.MustCompile(`\[pid (\d+)\] \[ftp\] OK (DOWNLOAD|UPLOAD): Client "([^"]*)", "/(?:upload/)?([^"]*)", (\d+) bytes`)
	completed := 0
	used := map[int]bool{}
	for i, dir := range dirs {
		log, err := os.ReadFile(dir + "/vsftpd.log")
		if err != nil {
			t.Fatal(err)
		}
		cmdPid := map[string]string{}
		for _, m := range cmdRE.FindAllStringSubmatch(string(log), -1) {
			cmdPid[m[1]+" "+m[2]+" "+m[3]+" "+strings.TrimPrefix(m[4], "upload/")] = m[1]
		}
		for _, m := range okRE.FindAllStringSubmatch(string(log), -1) {
			verb := map[string]string{"DOWNLOAD": "RETR", "UPLOAD": "STOR"}[m[2]]
			if _, ok := cmdPid[m[1]+" "+m[3]+" "+verb+" "+m[4]]; !ok {
				t.Errorf("rs%d session %s completed %s %s for %s without receiving its command", i+1, m[1], verb, m[4], m[3])
			}
			if !strings.HasPrefix(m[3], "203.0.113.") {
				t.Errorf("rs%d saw client %s, not the client's own address (NAT keeps it)", i+1, m[3])
			}
			completed++
			used[i] = true
		}
	}
	if want := 4 + 2*len(several)*len(clients); completed != want {
		t.Errorf("%d transfers completed in the vsftpd logs, want %d", completed, want)
	}
	if len(used) != 2 {
		t.Errorf("rr over two servers used %d", len(used))
	}
	if !strings.Contains(g.log.String(), "FTP helper loaded") {
		t.Errorf("no log line for the helper:\n%s", g.log.String())
	}
}
