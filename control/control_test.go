package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/govs/govs/config"
	"github.com/govs/govs/router"
	"github.com/govs/govs/table"
)

// fakeRouter is a router whose answers the test sets.
type fakeRouter struct {
	mu        sync.Mutex
	snap      table.Snapshot
	conns     []table.ConnStatus
	status    router.Status
	reloadErr error
	reloads   atomic.Int32
	inReload  atomic.Int32
	overlap   atomic.Bool
	gate      chan struct{} // when set, Reload waits on it
	panicSnap bool
	lastRS    RealServerRequest
}

func (f *fakeRouter) RealServer(_ context.Context, r RealServerRequest) (RealServerResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastRS = r
	switch r.Target {
	case "bad":
		return RealServerResult{}, &StatusError{Code: http.StatusBadRequest, Err: errors.New(`bad target "bad"`)}
	case "192.0.2.99":
		return RealServerResult{}, &StatusError{Code: http.StatusNotFound, Err: errors.New("no real server 192.0.2.99")}
	}
	return RealServerResult{Matched: 2}, nil
}

func (f *fakeRouter) Health() any { return map[string]int{"monitors": 3} }

func (f *fakeRouter) Zero(_ context.Context, service string) (ZeroResult, error) {
	switch service {
	case "":
		return ZeroResult{Services: []string{"TCP  192.0.2.1:80", "FWM  7"}}, nil
	case "web":
		return ZeroResult{Services: []string{"TCP  192.0.2.1:80"}}, nil
	}
	return ZeroResult{}, &StatusError{Code: http.StatusNotFound, Err: fmt.Errorf("no virtual service named %q", service)}
}

func (f *fakeRouter) History() []config.Revision {
	return []config.Revision{{N: 1, Author: "file", Action: "start"}, {N: 2, Author: "web ann", Action: "edit"}}
}

func (f *fakeRouter) Revision(n int) (config.Revision, []byte, string, error) {
	if n != 2 {
		return config.Revision{}, nil, "", config.ErrNoRevision
	}
	return config.Revision{N: 2, Author: "web ann"}, []byte("serial_no = 2\n"), "-serial_no = 1\n+serial_no = 2\n", nil
}

func (f *fakeRouter) Rollback(_ context.Context, n int) (config.Revision, error) {
	if n != 1 {
		return config.Revision{}, &StatusError{Code: http.StatusNotFound, Err: config.ErrNoRevision}
	}
	return config.Revision{N: 3, Action: "rollback to 1"}, nil
}

func (f *fakeRouter) Snapshot() table.Snapshot {
	if f.panicSnap {
		panic("table on fire")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.snap
}

func (f *fakeRouter) Conns() []table.ConnStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.conns
}

func (f *fakeRouter) Status() router.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.status
}

func (f *fakeRouter) Reload(ctx context.Context) error {
	if f.inReload.Add(1) > 1 {
		f.overlap.Store(true)
	}
	defer f.inReload.Add(-1)
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	f.reloads.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.reloadErr != nil {
		f.status.ReloadErrors++
		f.status.LastReloadError = f.reloadErr.Error()
		return f.reloadErr
	}
	f.status.Reloads++
	f.status.LastReloadError = ""
	return nil
}

// sockPath returns a socket path in a fresh directory, kept short enough
// for sun_path whatever the test's name.
func sockPath(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "govs-ctl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "run", "govs.sock")
}

// start serves f on a fresh socket and returns a client for it.
func start(t *testing.T, f *fakeRouter) (*Client, string) {
	t.Helper()
	path := sockPath(t)
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(f, nil)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	c := Dial(path)
	t.Cleanup(func() {
		c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return c, path
}

func sample() *fakeRouter {
	return &fakeRouter{
		snap: table.Snapshot{
			TCPTimeout: 900, TCPFinTimeout: 120, UDPTimeout: 300,
			Services: []table.ServiceStatus{{
				Name: "web", Key: "TCP  192.0.2.1:80", Proto: "TCP", VIP: "192.0.2.1", Port: 80, Family: 4,
				Scheduler: "wlc", Persistent: 600, PrefixLen: 24,
				Stats: table.Stats{Conns: 1 << 40, InBytes: 1<<64 - 1},
				Rates: table.Rates{CPS: 7},
				Dests: []table.DestStatus{{
					Name: "a", Addr: "198.51.100.2", Port: 80, Forward: "Route", Weight: 1, ConfigWeight: 1,
					ActiveConns: 3, State: "up",
				}, {
					Name: "b", Addr: "198.51.100.3", Port: 80, Forward: "Route", State: "down",
					Reason: "connect: connection refused", Removed: true,
				}},
			}},
		},
		conns: []table.ConnStatus{
			{Proto: "TCP", Expires: 899, State: "ESTABLISHED", Source: "203.0.113.7:51234",
				Virtual: "192.0.2.1:80", Destination: "198.51.100.2:80"},
			{Proto: "TCP", Expires: 600, State: "NONE", Source: "203.0.113.0:0",
				Virtual: "192.0.2.1:80", Destination: "198.51.100.2:0", Template: true},
		},
		status: router.Status{
			Version: "1.2.3", ConfigPath: "/etc/sysconfig/ha/lvs.cf", SerialNo: 42, Plane: "proxy", Role: "active",
			Started: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC), PID: 4242,
		},
	}
}

func TestRoundTrip(t *testing.T) {
	f := sample()
	c, _ := start(t, f)
	ctx := context.Background()

	snap, err := c.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(snap, f.snap) {
		t.Errorf("Snapshot:\n got %+v\nwant %+v", snap, f.snap)
	}
	conns, err := c.Conns(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(conns, f.conns) {
		t.Errorf("Conns:\n got %+v\nwant %+v", conns, f.conns)
	}
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(st, f.status) {
		t.Errorf("Status:\n got %+v\nwant %+v", st, f.status)
	}
	if st, err := c.Reload(ctx); err != nil || st.Reloads != 1 {
		t.Fatalf("reload: %+v %v, want the status after it", st, err)
	}
	if st, _ := c.Status(ctx); st.Reloads != 1 {
		t.Errorf("Reloads = %d after one reload", st.Reloads)
	}
}

// raw speaks to the socket without the client, as curl would.
func raw(t *testing.T, path, method, url string) (int, http.Header, map[string]any) {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", path)
	}}}
	defer hc.CloseIdleConnections()
	req, _ := http.NewRequest(method, "http://govs"+url, nil)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if len(body) > 0 && body[0] == '{' {
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("%s %s: body %q is not JSON: %v", method, url, body, err)
		}
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q", method, url, ct)
	}
	return resp.StatusCode, resp.Header, m
}

func TestEmptyConnsIsArray(t *testing.T) {
	f := sample()
	f.conns = nil
	_, path := start(t, f)
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", path)
	}}}
	defer hc.CloseIdleConnections()
	resp, err := hc.Get("http://govs/v1/conns")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if strings.TrimSpace(string(body)) != "[]" {
		t.Errorf("empty conns: %q", body)
	}
}

func TestMethodNotAllowed(t *testing.T) {
	_, path := start(t, sample())
	for _, c := range []struct{ method, url, allow string }{
		{http.MethodGet, "/v1/reload", "POST"},
		{http.MethodPost, "/v1/table", "GET"},
		{http.MethodDelete, "/v1/status", "GET"},
		{http.MethodPut, "/v1/conns", "GET"},
	} {
		code, h, m := raw(t, path, c.method, c.url)
		if code != http.StatusMethodNotAllowed {
			t.Errorf("%s %s: status %d", c.method, c.url, code)
		}
		if h.Get("Allow") != c.allow {
			t.Errorf("%s %s: Allow %q", c.method, c.url, h.Get("Allow"))
		}
		want := "method " + c.method + " not allowed on " + c.url + " (use " + c.allow + ")"
		if m["error"] != want {
			t.Errorf("%s %s: error %q, want %q", c.method, c.url, m["error"], want)
		}
	}
}

func TestHead(t *testing.T) {
	_, path := start(t, sample())
	if code, _, _ := raw(t, path, http.MethodHead, "/v1/status"); code != http.StatusOK {
		t.Errorf("HEAD /v1/status: %d", code)
	}
	if code, _, _ := raw(t, path, http.MethodHead, "/v1/reload"); code != http.StatusMethodNotAllowed {
		t.Errorf("HEAD /v1/reload: %d", code)
	}
}

func TestNotFound(t *testing.T) {
	_, path := start(t, sample())
	for _, url := range []string{"/", "/v1/", "/v1/tables", "/v2/table", "/v1/table/x"} {
		code, _, m := raw(t, path, http.MethodGet, url)
		if code != http.StatusNotFound {
			t.Errorf("%s: status %d", url, code)
		}
		msg, _ := m["error"].(string)
		if !strings.HasPrefix(msg, "no such endpoint "+url+" ") || !strings.Contains(msg, "POST /v1/reload") {
			t.Errorf("%s: error %q", url, msg)
		}
	}
}

// A rejected reload reaches the client as the router's exact text, with
// status 422, and the router's status records it.
func TestReloadError(t *testing.T) {
	f := sample()
	msg := "/etc/sysconfig/ha/lvs.cf:12: unknown scheduler \"wlcx\"\n" +
		"/etc/sysconfig/ha/lvs.cf:30: real server 198.51.100.2:80 listed twice in virtual web"
	f.reloadErr = errors.New(msg)
	c, path := start(t, f)
	_, err := c.Reload(context.Background())
	if err == nil {
		t.Fatal("no error")
	}
	if err.Error() != msg {
		t.Errorf("error text:\n got %q\nwant %q", err.Error(), msg)
	}
	var ae *Error
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("error %#v is not a 422 *Error", err)
	}
	if errors.Is(err, ErrNotRunning) {
		t.Error("a rejected reload reads as no router running")
	}
	st, err := c.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.ReloadErrors != 1 || st.LastReloadError != msg {
		t.Errorf("status after a failed reload: %+v", st)
	}
	code, _, m := raw(t, path, http.MethodPost, "/v1/reload")
	if code != http.StatusUnprocessableEntity || m["error"] != msg {
		t.Errorf("raw reload: %d %v", code, m)
	}
}

// Two reloads at once run one after the other.
func TestReloadSerialized(t *testing.T) {
	f := sample()
	f.gate = make(chan struct{})
	c, _ := start(t, f)
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for range 2 {
		wg.Go(func() { _, err := c.Reload(context.Background()); errs <- err })
	}
	// Let both requests arrive before opening the gate.
	time.Sleep(100 * time.Millisecond)
	close(f.gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if f.overlap.Load() {
		t.Error("reloads overlapped")
	}
	if n := f.reloads.Load(); n != 2 {
		t.Errorf("%d reloads ran", n)
	}
}

func TestPanicIs500(t *testing.T) {
	f := sample()
	f.panicSnap = true
	c, _ := start(t, f)
	_, err := c.Snapshot(context.Background())
	var ae *Error
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusInternalServerError ||
		!strings.Contains(ae.Message, "table on fire") {
		t.Errorf("got %v", err)
	}
	// The server survives.
	if _, err := c.Status(context.Background()); err != nil {
		t.Error(err)
	}
}

func TestRealServerAndHealth(t *testing.T) {
	f := sample()
	c, _ := start(t, f)
	ctx := context.Background()
	res, err := c.RealServer(ctx, RealServerRequest{Action: "drain", Target: "198.51.100.2:80", Service: "web"})
	if err != nil || res.Matched != 2 {
		t.Fatalf("override: %v %+v", err, res)
	}
	if f.lastRS != (RealServerRequest{Action: "drain", Target: "198.51.100.2:80", Service: "web"}) {
		t.Fatalf("router got %+v", f.lastRS)
	}
	for target, code := range map[string]int{"bad": 400, "192.0.2.99": 404} {
		_, err := c.RealServer(ctx, RealServerRequest{Action: "disable", Target: target})
		var e *Error
		if !errors.As(err, &e) || e.StatusCode != code {
			t.Errorf("target %s: %v, want status %d", target, err, code)
		}
	}
	raw, err := c.Health(ctx)
	if err != nil || strings.TrimSpace(string(raw)) != `{"monitors":3}` {
		t.Fatalf("health: %v %s", err, raw)
	}
}

// govs zero's endpoint: all services, one, and one that is not there
// (404 with the router's reason).
func TestZeroEndpoint(t *testing.T) {
	c, _ := start(t, sample())
	ctx := context.Background()
	if res, err := c.Zero(ctx, ""); err != nil || len(res.Services) != 2 {
		t.Fatalf("zero all: %+v %v", res, err)
	}
	if res, err := c.Zero(ctx, "web"); err != nil || len(res.Services) != 1 || res.Services[0] != "TCP  192.0.2.1:80" {
		t.Fatalf("zero web: %+v %v", res, err)
	}
	var ce *Error
	if _, err := c.Zero(ctx, "nosuch"); !errors.As(err, &ce) || ce.StatusCode != http.StatusNotFound ||
		!strings.Contains(err.Error(), `no virtual service named "nosuch"`) {
		t.Fatalf("zero nosuch: %v", err)
	}
}

// The history endpoints: list, one revision, a rollback; a revision the
// router does not hold is a 404 with the reason, a malformed one a 400.
func TestHistoryEndpoints(t *testing.T) {
	c, _ := start(t, sample())
	ctx := context.Background()
	revs, err := c.History(ctx)
	if err != nil || len(revs) != 2 || revs[1].Author != "web ann" {
		t.Fatalf("history: %+v %v", revs, err)
	}
	v, err := c.Revision(ctx, 2)
	if err != nil || v.Text != "serial_no = 2\n" || !strings.Contains(v.Diff, "+serial_no = 2") {
		t.Fatalf("revision 2: %+v %v", v, err)
	}
	var ce *Error
	if _, err := c.Revision(ctx, 5); !errors.As(err, &ce) || ce.StatusCode != http.StatusNotFound {
		t.Fatalf("revision 5: %v", err)
	}
	if _, err := c.Revision(ctx, 0); !errors.As(err, &ce) || ce.StatusCode != http.StatusBadRequest {
		t.Fatalf("revision 0: %v", err)
	}
	if rev, err := c.Rollback(ctx, 1); err != nil || rev.N != 3 {
		t.Fatalf("rollback: %+v %v", rev, err)
	}
	if _, err := c.Rollback(ctx, 7); !errors.As(err, &ce) || ce.StatusCode != http.StatusNotFound ||
		!strings.Contains(ce.Message, "no such revision") {
		t.Fatalf("rollback to 7: %v", err)
	}
}
