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
	"sync"
	"testing"
	"time"

	"github.com/govs/govs/internal/netnstest"
	"github.com/govs/govs/internal/testutil"
)

// ftpHeader begins the FTP routers' lvs.cf: a NAT router on the proxy
// plane, its client side on r0.
const ftpHeader = `serial_no = 1
primary = 203.0.113.1
service = lvs
network = nat
dataplane = proxy

`

// ftpMarkService is the classic FTP mark service of Piranha's
// documentation on vip: the control port and the real servers' passive
// range under one persistent firewall mark, with the FTP helper on.
func ftpMarkService(name, vip string, servers ...string) string {
	return fmt.Sprintf(`virtual %s {
    active = 1
    address = %s r0
    port = 21
    fwmark = 21
    fwmark_ports = 21,10000-20000
    persistent = 300
    ftp = 1
    scheduler = rr
%s}
`, name, vip, lvsServers(servers...))
}

// The FTP router: the FTP mark service over two real servers.
var ftpCfg = ftpHeader + ftpMarkService("ftp", "203.0.113.100", "198.51.100.11", "198.51.100.12")

// vsftpdConf is a real server's vsftpd listening on addr, IPv4 or IPv6
// (vsftpd's listen= and listen_ipv6= exclude each other), with its passive
// ports in [pasvMin, pasvMax].
func vsftpdConf(dir, addr string, pasvMin, pasvMax int) string {
	listen := []string{"listen=YES", "listen_ipv6=NO", "listen_address=" + addr}
	if strings.Contains(addr, ":") {
		listen = []string{"listen=NO", "listen_ipv6=YES", "listen_address6=" + addr}
	}
	return testutil.VsftpdConf(dir, append(listen, fmt.Sprintf("pasv_min_port=%d", pasvMin), fmt.Sprintf("pasv_max_port=%d", pasvMax),
		"connect_from_port_20=NO", "max_clients=0", "max_per_ip=0")...)
}

// waitFTP waits, boundedly, until curl in ns gets an answer from the FTP
// server at url.
func waitFTP(t *testing.T, ctx context.Context, ns *netnstest.NS, url string) {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, func() error {
		if out, err := ns.Try(ctx, "curl", "-sS", "-g", "--max-time", "2", url); err != nil {
			return fmt.Errorf("vsftpd on %s does not answer: %v %s", url, err, out)
		}
		return nil
	})
}

// bigSize is the size of the files that cross the router: at least 100 MB.
const bigSize = 100 << 20

// TestFTPThroughRouter runs Debian's vsftpd on two real servers and curl
// as several simultaneous clients through the proxy plane's FTP helper:
// passive (EPSV and PASV) and active (EPRT and PORT) downloads and uploads
// of 100 MB files, verified by SHA-256, and every client's control session
// and data transfers on one real server, read from the vsftpd logs.
func TestFTPThroughRouter(t *testing.T) {
	netnstest.Require(t)
	vsftpd, err := exec.LookPath("vsftpd")
	if err != nil {
		t.Skip("FTP test: needs Debian's vsftpd (scripts/deps.sh installs it)")
	}
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("FTP test: needs curl (scripts/deps.sh installs it)")
	}
	ftpUser, err := user.Lookup("ftp")
	if err != nil {
		t.Skip("FTP test: needs the ftp user that Debian's vsftpd package creates")
	}
	uid, _ := strconv.Atoi(ftpUser.Uid)
	gid, _ := strconv.Atoi(ftpUser.Gid)

	clients := []string{"203.0.113.2", "203.0.113.3", "203.0.113.4", "203.0.113.5"}
	client := netnstest.New(t, "client")
	rtr := netnstest.New(t, "router")
	rs := []*netnstest.NS{netnstest.New(t, "rs1"), netnstest.New(t, "rs2")}
	netnstest.Veth(t, client, "c0", rtr, "r0")
	for _, a := range clients {
		client.Addr("c0", a+"/24")
	}
	rtr.Addr("r0", "203.0.113.1/24")
	rtr.Addr("r0", "203.0.113.100/32")
	rtr.Run("ip", "link", "add", "br0", "type", "bridge")
	rtr.Run("ip", "link", "set", "br0", "up")
	rtr.Addr("br0", "198.51.100.1/24")

	base := t.TempDir()
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	// Each client downloads its own names (hard links to one 100 MB file
	// on both servers), so that the logs tell its transfers apart.
	big := filepath.Join(base, "big.bin")
	bigSum := testutil.WriteRandom(t, big, 1, bigSize)
	dirs := make([]string, len(rs))
	for i, ns := range rs {
		port := fmt.Sprintf("p%d", i)
		netnstest.Veth(t, ns, "eth0", rtr, port)
		rtr.Run("ip", "link", "set", port, "master", "br0")
		addr := fmt.Sprintf("198.51.100.%d", 11+i)
		ns.Addr("eth0", addr+"/24")

		dir := filepath.Join(base, fmt.Sprintf("rs%d", i+1))
		dirs[i] = dir
		testutil.VsftpdDir(t, dir, uid, gid)
		for c := range clients {
			for _, mode := range []string{"epsv", "pasv", "eprt", "port"} {
				if err := os.Link(big, fmt.Sprintf("%s/root/c%d-%s.bin", dir, c, mode)); err != nil {
					t.Fatal(err)
				}
			}
		}
		conf := filepath.Join(dir, "vsftpd.conf")
		writeFile(t, conf, vsftpdConf(dir, addr, 10000, 20000))
		ns.Start(nil, vsftpd, conf)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// The router checks real servers at once: they must be listening.
	for i, ns := range rs {
		waitFTP(t, ctx, ns, fmt.Sprintf("ftp://198.51.100.%d/", 11+i))
	}

	cfgPath := filepath.Join(t.TempDir(), "lvs.cf")
	writeFile(t, cfgPath, ftpCfg)
	startRouter(t, []string{"ip", "netns", "exec", rtr.Name}, cfgPath)

	// Upload sources, one per client and different from each other.
	upSums := make([]string, len(clients))
	upDir := t.TempDir()
	for c := range clients {
		upSums[c] = testutil.WriteRandom(t, filepath.Join(upDir, fmt.Sprintf("up%d.bin", c)), byte(10+c), bigSize)
	}
	outDir := t.TempDir()

	modeArgs := map[string][]string{
		"epsv": nil,
		"pasv": {"--disable-epsv", "--no-ftp-skip-pasv-ip"},
		"eprt": {"--ftp-port", "-"},
		"port": {"--ftp-port", "-", "--disable-eprt"},
	}
	modes := []string{"epsv", "pasv", "eprt", "port"}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for c, src := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, mode := range modes {
				args := append([]string{"curl", "-sS", "--max-time", "120", "--interface", src}, modeArgs[mode]...)
				name := fmt.Sprintf("c%d-%s.bin", c, mode)
				out := filepath.Join(outDir, name)
				if o, err := client.Try(ctx, append(args, "-o", out, "ftp://203.0.113.100/"+name)...); err != nil {
					errs <- fmt.Errorf("client %s %s download: %v\n%s", src, mode, err, o)
					return
				}
				if sum, err := testutil.FileSHA256(out); err != nil || sum != bigSum {
					errs <- fmt.Errorf("client %s %s download: sha256 %s (%v), want %s", src, mode, sum, err, bigSum)
				}
				os.Remove(out)
				up := filepath.Join(upDir, fmt.Sprintf("up%d.bin", c))
				if o, err := client.Try(ctx, append(args, "-T", up, "ftp://203.0.113.100/upload/"+name)...); err != nil {
					errs <- fmt.Errorf("client %s %s upload: %v\n%s", src, mode, err, o)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}

	// Uploads: each on exactly one server, intact.
	owner := map[int]int{}
	for c := range clients {
		for _, mode := range modes {
			name := fmt.Sprintf("c%d-%s.bin", c, mode)
			found := -1
			for i, dir := range dirs {
				sum, err := testutil.FileSHA256(filepath.Join(dir, "root/upload", name))
				if err != nil {
					continue
				}
				if found >= 0 {
					t.Errorf("upload %s on both servers", name)
				}
				found = i
				if sum != upSums[c] {
					t.Errorf("upload %s on rs%d: sha256 %s, want %s", name, i+1, sum, upSums[c])
				}
			}
			if found < 0 {
				t.Errorf("upload %s on no server", name)
			}
		}
	}

	// The logs: every transfer of a client is completed ("OK DOWNLOAD",
	// "OK UPLOAD", written once the data connection is done) by the same
	// vsftpd session (pid) that received its RETR or STOR on the control
	// connection, and all of a client's sessions are on one server.
	cmdRE := regexp.MustCompile(`\[pid (\d+)\] \[ftp\] FTP command: Client "[^"]*", "(RETR|STOR) (?:upload/)?(c\d+-\w+\.bin)"`)
	okRE := regexp.MustCompile(`\[pid (\d+)\] \[ftp\] OK (DOWNLOAD|UPLOAD): Client "[^"]*", "/(?:upload/)?(c\d+-\w+\.bin)", (\d+) bytes`)
	type seen struct{ cmdPid, okPid, server int }
	transfers := map[string]*seen{}
	for i, dir := range dirs {
		log, err := os.ReadFile(filepath.Join(dir, "vsftpd.log"))
		if err != nil {
			t.Fatalf("rs%d log: %v", i+1, err)
		}
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("rs%d vsftpd.log:\n%s", i+1, log)
			}
		})
		for _, m := range cmdRE.FindAllStringSubmatch(string(log), -1) {
			key := m[2] + " " + m[3]
			if transfers[key] != nil && transfers[key].cmdPid != 0 {
				t.Errorf("%s received twice", key)
			}
			if transfers[key] == nil {
				transfers[key] = &seen{server: i}
			}
			transfers[key].cmdPid, _ = strconv.Atoi(m[1])
			transfers[key].server = i
		}
		for _, m := range okRE.FindAllStringSubmatch(string(log), -1) {
			verb := map[string]string{"DOWNLOAD": "RETR", "UPLOAD": "STOR"}[m[2]]
			key := verb + " " + m[3]
			s := transfers[key]
			if s == nil || s.server != i {
				t.Errorf("rs%d completed %s, whose command it did not receive", i+1, key)
				continue
			}
			s.okPid, _ = strconv.Atoi(m[1])
			if m[4] != strconv.Itoa(bigSize) {
				t.Errorf("%s moved %s bytes", key, m[4])
			}
		}
	}
	used := map[int]bool{}
	for c, src := range clients {
		for _, mode := range modes {
			for _, verb := range []string{"RETR", "STOR"} {
				key := fmt.Sprintf("%s c%d-%s.bin", verb, c, mode)
				s := transfers[key]
				if s == nil || s.okPid == 0 {
					t.Errorf("client %s: %s not completed in any vsftpd log", src, key)
					continue
				}
				if s.okPid != s.cmdPid {
					t.Errorf("client %s: %s received by session %d, completed by %d", src, key, s.cmdPid, s.okPid)
				}
				if o, ok := owner[c]; ok && o != s.server {
					t.Errorf("client %s: sessions on rs%d and rs%d", src, o+1, s.server+1)
				}
				owner[c] = s.server
				used[s.server] = true
			}
		}
	}
	if len(used) != 2 {
		t.Errorf("four clients under rr all on one server: %v", owner)
	}
	t.Logf("%d clients, %d transfers of %d bytes each, all intact (sha256 %s for downloads); clients on servers %v",
		len(clients), len(transfers), bigSize, bigSum[:16], owner)
}
