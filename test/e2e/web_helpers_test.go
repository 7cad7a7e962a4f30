//go:build linux

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/govs/govs/internal/testutil"
)

// webRouter is a `govs run` with its web tool on loopback, two real
// servers answering "NAME PORT", and an admin and a read-only user.
type webRouter struct {
	*router
	dir, cfg   string
	url        string
	admin      string // the admin's API token
	viewer     string // the read-only user's API token
	rs         [2]string
	p1, p2     int // the ports the mark service will bundle
	adminPass  string
	viewerPass string
}

// freeLoopbackPort is a port of 127.0.0.1 for govs run to bind: the child
// process binds what its configuration names, so it cannot be handed a
// listener; testutil.FreePort makes the race as narrow as it can.
func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	return int(testutil.FreePort(t, netip.MustParseAddr("127.0.0.1")))
}

// passwd runs govs passwd with the password on stdin and returns the token
// it printed, if any.
func passwd(t *testing.T, users, pass string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, govsBin, append([]string{"passwd", "-f", users}, args...)...)
	cmd.Stdin = strings.NewReader(pass + "\n")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("govs passwd: %v\n%s", err, out.String())
	}
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(l, "govs_") {
			return strings.TrimSpace(l)
		}
	}
	return ""
}

func startWebRouter(t *testing.T) *webRouter {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("the end-to-end suite runs on Linux")
	}
	w := &webRouter{dir: t.TempDir(), adminPass: "admin-pass-1", viewerPass: "viewer-pass-1"}
	users := filepath.Join(w.dir, "users")
	w.admin = passwd(t, users, w.adminPass, "-u", "admin", "--token")
	w.viewer = passwd(t, users, w.viewerPass, "-u", "viewer", "--role", "readonly", "--token")
	if w.admin == "" || w.viewer == "" {
		t.Fatal("govs passwd printed no token")
	}
	for i, name := range []string{"rs1", "rs2"} {
		w.rs[i] = serveHTTPBackend(t, name, "127.0.0.1:0")
	}
	w.p1, w.p2 = freeLoopbackPort(t), freeLoopbackPort(t)
	httpPort := freeLoopbackPort(t)
	w.url = fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	w.cfg = filepath.Join(w.dir, "lvs.cf")
	writeFile(t, w.cfg, fmt.Sprintf(`serial_no = 1
primary = 127.0.0.1
service = lvs
network = nat
dataplane = proxy
http_listen = 127.0.0.1:%d
http_users = users
`, httpPort))
	w.router = startRouter(t, nil, w.cfg)
	testutil.Eventually(t, 10*time.Second, func() error {
		resp, err := http.Get(w.url + "/login")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		return fmt.Errorf("the web tool does not answer on %s: %v\n%s", w.url, err, w.log.String())
	})
	return w
}

func (w *webRouter) file(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(w.cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (w *webRouter) unchanged(t *testing.T, before []byte) {
	t.Helper()
	if after := w.file(t); !bytes.Equal(before, after) {
		t.Fatalf("lvs.cf changed:\n--- before\n%s--- after\n%s", before, after)
	}
}

// fetchVia gets http://127.0.0.1:port/ through the router.
func fetchVia(t *testing.T, port int) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	body, err := get(ctx, fmt.Sprintf("http://127.0.0.1:%d/", port), "")
	if err != nil {
		t.Fatalf("through port %d: %v", port, err)
	}
	return body
}

// reached fetches through each of the mark service's two ports n times
// and returns the real servers that answered.
func (w *webRouter) reached(t *testing.T, n int) map[string]bool {
	t.Helper()
	seen := map[string]bool{}
	for range n {
		for _, p := range []int{w.p1, w.p2} {
			seen[strings.Fields(fetchVia(t, p))[0]] = true
		}
	}
	return seen
}

// historyFiles lists the revisions kept beside cfg (lvs.cf.N, not their
// descriptions).
func historyFiles(t *testing.T, cfg string) []string {
	t.Helper()
	names, _ := filepath.Glob(filepath.Join(cfg+".history", filepath.Base(cfg)+".*"))
	var out []string
	for _, n := range names {
		if !strings.HasSuffix(n, ".json") {
			out = append(out, n)
		}
	}
	return out
}
