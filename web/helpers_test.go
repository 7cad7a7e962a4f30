package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/govs/govs/dataplane"
	"github.com/govs/govs/dataplane/proxy"
	"github.com/govs/govs/internal/testutil"
	"github.com/govs/govs/router"
	"github.com/govs/govs/scheduler"
	"github.com/govs/govs/table"
)

// env is a real router on loopback with the web tool in front of it.
type env struct {
	t        testing.TB
	dir, cfg string
	r        *router.Router
	s        *Server
	ts       *httptest.Server
	admin    string // admin API token
	viewer   string // read-only API token
	svcPort  int
	backend  string // address of the "web" service's real server
	now      time.Time
}

const (
	adminPass  = "correct horse"
	viewerPass = "battery staple"
)

// echoServer accepts connections and echoes, until the test ends.
func echoServer(t testing.TB, addr string) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	return ln
}

// freePort is a port the router under test binds itself (a service's
// VIP port): testutil.FreePort, outside the ephemeral range.
func freePort(t testing.TB) int {
	t.Helper()
	return int(testutil.FreePort(t, netip.MustParseAddr("127.0.0.1")))
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, "")
}

// newEnvWith is newEnv with more lvs.cf text after the web service;
// %[1]s in it stands for the web service's real server's port.
func newEnvWith(t *testing.T, extra string) *env {
	t.Helper()
	return newEnvPlane(t, extra, func(name string, tb *table.Table, log *slog.Logger) (dataplane.Plane, error) {
		return proxy.New(tb, proxy.Options{Logger: log}), nil
	})
}

// newEnvPlane is newEnvWith on the data plane newPlane builds.
func newEnvPlane(t testing.TB, extra string, newPlane func(string, *table.Table, *slog.Logger) (dataplane.Plane, error)) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), now: time.Now()}
	e.cfg = filepath.Join(e.dir, "lvs.cf")
	be := echoServer(t, "127.0.0.1:0")
	e.backend = be.Addr().String()
	_, bport, _ := net.SplitHostPort(e.backend)
	e.svcPort = freePort(t)
	users := filepath.Join(e.dir, "users")
	ah, _ := bcrypt.GenerateFromPassword([]byte(adminPass), bcrypt.MinCost)
	vh, _ := bcrypt.GenerateFromPassword([]byte(viewerPass), bcrypt.MinCost)
	var aHash, vHash string
	var err error
	e.admin, aHash, err = NewToken()
	if err != nil {
		t.Fatal(err)
	}
	e.viewer, vHash, _ = NewToken()
	if err := os.WriteFile(users, FormatUsers([]User{
		{Name: "admin", Hash: string(ah), Role: RoleAdmin, TokenHash: aHash},
		{Name: "viewer", Hash: string(vh), Role: RoleReadOnly, TokenHash: vHash},
	}), 0o600); err != nil {
		t.Fatal(err)
	}
	src := fmt.Sprintf(`serial_no = 7
primary = 127.0.0.1
service = lvs
network = nat
dataplane = proxy
http_users = %s

virtual web {
    active = 1
    address = 127.0.0.1 lo
    protocol = tcp
    port = %d
    scheduler = wlc
    server web1 {
        address = 127.0.0.1
        port = %s
        active = 1
        weight = 1
    }
}
`, users, e.svcPort, bport)
	if extra != "" {
		src += fmt.Sprintf(extra, bport)
	}
	if err := os.WriteFile(e.cfg, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.DiscardHandler)
	if os.Getenv("GOVS_WEB_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	r, err := router.New(ctx, router.Options{ConfigPath: e.cfg, Version: "test", NewScheduler: scheduler.New, Logger: log,
		NewPlane: newPlane, TickInterval: 100 * time.Millisecond})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = r.Run(ctx, time.Second) }()
	e.r = r
	e.s = New(Options{Router: r, UsersFile: users, SampleInterval: 50 * time.Millisecond,
		Now: func() time.Time { return e.now }})
	e.ts = httptest.NewServer(e.s)
	t.Cleanup(func() {
		e.ts.Close()
		cancel()
		<-done
	})
	return e
}

// do sends a request with an optional bearer token and JSON body.
func (e *env) do(method, path, token string, body any) (int, map[string]any) {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.ts.URL+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	if m == nil {
		m = map[string]any{"_raw": string(raw)}
	}
	return resp.StatusCode, m
}

func (e *env) file() []byte {
	e.t.Helper()
	b, err := os.ReadFile(e.cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

func (e *env) unchanged(before []byte) {
	e.t.Helper()
	if after := e.file(); !bytes.Equal(before, after) {
		e.t.Fatalf("lvs.cf changed:\n--- before\n%s\n--- after\n%s", before, after)
	}
}

var serialRE = regexp.MustCompile(`(?m)^serial_no = (\d+)$`)

func serialOf(t testing.TB, b []byte) string {
	t.Helper()
	m := serialRE.FindSubmatch(b)
	if m == nil {
		t.Fatalf("no serial_no in\n%s", b)
	}
	return string(m[1])
}

// written checks that a change wrote the file: serial_no+1, the previous
// file kept in the history under its serial, mode 0600.
func (e *env) written(before []byte) []byte {
	e.t.Helper()
	after := e.file()
	if bytes.Equal(before, after) {
		e.t.Fatal("lvs.cf did not change")
	}
	var b, a int
	fmt.Sscan(serialOf(e.t, before), &b)
	fmt.Sscan(serialOf(e.t, after), &a)
	if a != b+1 {
		e.t.Errorf("serial_no %d -> %d, want +1", b, a)
	}
	// The history's newest revision is the new file, the one before it
	// the file it replaced.
	h := e.r.History()
	if len(h) < 2 {
		e.t.Fatalf("history after a change: %+v", h)
	}
	for i, want := range [][]byte{after, before} {
		rev := h[len(h)-1-i]
		_, kept, _, err := e.r.Revision(rev.N)
		if err != nil || !bytes.Equal(kept, want) {
			e.t.Errorf("history revision %d (serial %d) is not the file it should be (err %v):\n%s", rev.N, rev.Serial, err, kept)
		}
	}
	fi, _ := os.Stat(e.cfg)
	if fi.Mode().Perm() != 0o600 {
		e.t.Errorf("lvs.cf mode %v, want 0600", fi.Mode().Perm())
	}
	if got := e.r.Config().Global.SerialNo; fmt.Sprint(got) != serialOf(e.t, after) {
		e.t.Errorf("running serial_no %d, file says %s", got, serialOf(e.t, after))
	}
	return after
}

// browser is a cookie-keeping client for the pages.
type browser struct {
	e *env
	c *http.Client
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{e: e, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

func (b *browser) get(path string) (int, string) {
	b.e.t.Helper()
	resp, err := b.c.Get(b.e.ts.URL + path)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

func (b *browser) post(path string, form url.Values) (int, string, string) {
	b.e.t.Helper()
	resp, err := b.c.PostForm(b.e.ts.URL+path, form)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw), resp.Header.Get("Location")
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// login signs in and returns the session's CSRF token.
func (b *browser) login(user, pass string) string {
	b.e.t.Helper()
	code, body, loc := b.post("/login", url.Values{"user": {user}, "password": {pass}})
	if code != http.StatusSeeOther {
		b.e.t.Fatalf("login: %d %s", code, body)
	}
	_, page := b.get(loc)
	m := csrfRE.FindStringSubmatch(page)
	if m == nil {
		b.e.t.Fatalf("no CSRF token on %s:\n%s", loc, page)
	}
	return m[1]
}

func has(t *testing.T, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("page lacks %q", w)
		}
	}
}
