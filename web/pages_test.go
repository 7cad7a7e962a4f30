package web

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func TestPagesNeedLogin(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	for _, p := range []string{"/", "/global", "/redundancy", "/virtual", "/virtual/new", "/virtual/web",
		"/virtual/web/real", "/virtual/web/monitor", "/virtual/web/real/web1", "/fragment/table"} {
		code, _ := b.get(p)
		if code != http.StatusSeeOther {
			t.Errorf("GET %s without a session: %d, want a redirect to /login", p, code)
		}
	}
	before := e.file()
	for _, p := range []string{"/global", "/redundancy", "/virtual/new", "/virtual/web", "/virtual/web/delete",
		"/virtual/web/real", "/virtual/web/real/web1", "/virtual/web/real/web1/drain", "/virtual/web/monitor"} {
		code, _, _ := b.post(p, url.Values{"name": {"x"}, "address": {"127.0.0.1"}, "tcp_timeout": {"5"}})
		if code != http.StatusUnauthorized {
			t.Errorf("POST %s without a session: %d, want 401", p, code)
		}
	}
	e.unchanged(before)
	if len(e.r.Health().Overrides) != 0 {
		t.Error("override set without a session")
	}
}

func TestLoginPagesAndCookie(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	code, body := b.get("/login")
	if code != 200 || !strings.Contains(body, `id="login-form"`) {
		t.Fatalf("login page: %d", code)
	}
	resp, err := b.c.PostForm(e.ts.URL+"/login", url.Values{"user": {"admin"}, "password": {adminPass}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ck := resp.Header.Get("Set-Cookie")
	for _, want := range []string{"govs_session=", "HttpOnly", "SameSite=Strict"} {
		if !strings.Contains(ck, want) {
			t.Errorf("cookie %q lacks %s", ck, want)
		}
	}
	pages := map[string][]string{
		"/":                      {"CONTROL/MONITORING", `id="lvs-table"`, `id="chart-conns"`, `id="chart-bytes"`, `id="router-role"`, "active", "Update information now", "web1"},
		"/global":                {"Primary server public IP", `name="tcp_timeout"`, `name="nat_router_device"`, `name="network"`, `name="csrf"`},
		"/redundancy":            {"Redundant server public IP", `name="keepalive"`, `name="deadtime"`, `name="heartbeat_port"`, `name="syncd_id"`, `id="redundancy-role"`, `name="vrrp_priority"`, `name="vrrp_unicast_peers"`},
		"/virtual":               {`id="virtual-list"`, "DEACTIVATE", "DELETE", `id="add-virtual"`},
		"/virtual/new":           {`name="fwmark_ports"`, `name="persistent"`, `name="pmask"`, `name="sorry_server"`, `name="quiesce_server"`, `name="scheduler"`, `name="timeout"`, `name="reentry"`},
		"/virtual/web":           {"VIRTUAL SERVER", "REAL SERVER", "MONITORING SCRIPTS", `name="address"`},
		"/virtual/web/real":      {`id="real-list"`, `id="drain-web1"`, `id="disable-web1"`, `id="enable-web1"`, `name="weight"`},
		"/virtual/web/real/web1": {`name="weight"`, `name="uthreshold"`},
		"/virtual/web/monitor": {`name="send"`, `name="expect"`, `name="use_regex"`, `name="send_program"`, `name="check_type"`, `name="check_path"`,
			// Typed by the keyword registry: choices for an enumeration, a
			// number for a count, text for an open enumeration.
			`<select id="f-check_type" name="check_type"><option value="" selected>(not set)</option><option value="tcp">tcp</option>`,
			`<select id="f-check_tls_verify" name="check_tls_verify">`, `<input type="text" inputmode="numeric" id="f-rise"`,
			`<input type="text" id="f-dns_type"`},
		"/fragment/table": {`id="lvs-table"`, `data-server="web1"`},
		"/static/app.js":  {"refreshTable"},
		"/static/app.css": {".field"},
	}
	for p, wants := range pages {
		code, body := b.get(p)
		if code != 200 {
			t.Errorf("%s: %d", p, code)
			continue
		}
		for _, w := range wants {
			if !strings.Contains(body, w) {
				t.Errorf("%s lacks %q", p, w)
			}
		}
	}
	// Logging out ends the session.
	csrf := b.login("admin", adminPass)
	if code, _, _ := b.post("/logout", url.Values{"csrf": {csrf}}); code != http.StatusSeeOther {
		t.Errorf("logout %d", code)
	}
	if code, _ := b.get("/"); code != http.StatusSeeOther {
		t.Errorf("after logout: %d", code)
	}
}

func TestPageChangesNeedCSRF(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	csrf := b.login("admin", adminPass)
	before := e.file()
	for _, tok := range []string{"", "wrong"} {
		code, body, _ := b.post("/global", url.Values{"csrf": {tok}, "tcp_timeout": {"600"}})
		if code != http.StatusForbidden || !strings.Contains(body, "security token") {
			t.Errorf("CSRF %q: %d", tok, code)
		}
		code, _, _ = b.post("/virtual/web/real/web1/drain", url.Values{"csrf": {tok}})
		if code != http.StatusForbidden {
			t.Errorf("drain with CSRF %q: %d", tok, code)
		}
	}
	e.unchanged(before)
	// A session's API call needs the header too.
	req, _ := http.NewRequest("PUT", e.ts.URL+"/api/v1/global", strings.NewReader(`{"tcp_timeout":600}`))
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("session API call without X-CSRF-Token: %d", resp.StatusCode)
	}
	e.unchanged(before)
	req, _ = http.NewRequest("PUT", e.ts.URL+"/api/v1/global", strings.NewReader(`{"tcp_timeout":600}`))
	req.Header.Set("X-CSRF-Token", csrf)
	resp, err = b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("session API call with X-CSRF-Token: %d", resp.StatusCode)
	}
	e.written(before)
}

func TestReadOnlyUserPages(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	csrf := b.login("viewer", viewerPass)
	_, body := b.get("/virtual")
	if strings.Contains(body, "DELETE") || strings.Contains(body, `id="add-virtual"`) {
		t.Error("read-only user sees change buttons")
	}
	_, body = b.get("/global")
	if !strings.Contains(body, "disabled") || strings.Contains(body, `id="save"`) {
		t.Error("read-only global form is editable")
	}
	before := e.file()
	for _, p := range []string{"/global", "/virtual/web", "/virtual/web/delete", "/virtual/web/real/web1/drain"} {
		code, _, _ := b.post(p, url.Values{"csrf": {csrf}, "tcp_timeout": {"600"}})
		if code != http.StatusForbidden {
			t.Errorf("read-only POST %s: %d", p, code)
		}
	}
	e.unchanged(before)
	if len(e.r.Health().Overrides) != 0 {
		t.Error("read-only user set an override")
	}
}

func TestPageBadInputShownByField(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	csrf := b.login("admin", adminPass)
	before := e.file()
	cases := []struct {
		path  string
		form  url.Values
		field string
	}{
		{"/virtual/new", url.Values{"name": {"x"}, "address": {"10.0.0.300"}, "device": {"lo"}}, "address"},
		{"/virtual/new", url.Values{"name": {"x"}, "address": {"127.0.0.1"}, "device": {"lo"}, "port": {"nosuchservice"}}, "port"},
		{"/virtual/new", url.Values{"name": {"x"}, "address": {"127.0.0.1"}, "device": {"lo"}, "fwmark": {"5"}, "fwmark_ports": {"9-1"}}, "fwmark_ports"},
		{"/virtual/web", url.Values{"persistent": {"soon"}}, "persistent"},
		{"/virtual/web", url.Values{"address": {"127.0.0.1"}, "device": {""}}, "address"},
		{"/virtual/web/monitor", url.Values{"check_type": {"carrier-pigeon"}}, "check_type"},
		{"/virtual/web/real", url.Values{"name": {"r2"}, "address": {"127.0.0.1"}, "weight": {"-3"}}, "weight"},
		{"/virtual/web/real/web1", url.Values{"port": {"99999"}}, "port"},
		{"/global", url.Values{"primary": {"primary.example"}}, "primary"},
		{"/redundancy", url.Values{"keepalive": {"x"}}, "keepalive"},
	}
	for _, c := range cases {
		c.form.Set("csrf", csrf)
		code, body, _ := b.post(c.path, c.form)
		if code != http.StatusBadRequest {
			t.Errorf("%s %v: %d, want 400", c.path, c.form, code)
		}
		if !strings.Contains(body, `id="err-`+c.field+`"`) {
			t.Errorf("%s %v: no error next to %s:\n%s", c.path, c.form, c.field, grep(body, "error"))
		}
		e.unchanged(before)
	}
}

func TestPageChangesApply(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	csrf := b.login("admin", adminPass)
	before := e.file()
	code, _, loc := b.post("/virtual/new", url.Values{"csrf": {csrf}, "name": {"bundle"}, "address": {"127.0.0.1"},
		"device": {"lo"}, "fwmark": {"7"}, "fwmark_ports": {"30001,30002"}, "scheduler": {"rr"}, "active": {"0", "1"},
		"persistent": {"0"}, "protocol": {"tcp"}, "load_monitor": {"none"}})
	if code != http.StatusSeeOther || !strings.Contains(loc, "/virtual/bundle/real") {
		t.Fatalf("add virtual: %d %s", code, loc)
	}
	before = e.written(before)
	code, _, _ = b.post("/virtual/bundle/real", url.Values{"csrf": {csrf}, "name": {"r1"}, "address": {"127.0.0.1"},
		"port": {"40001"}, "weight": {"1"}, "active": {"0", "1"}})
	if code != http.StatusSeeOther {
		t.Fatalf("add real: %d", code)
	}
	before = e.written(before)
	_, body := b.get("/virtual/bundle/real?saved=1")
	has(t, body, "Saved and applied", `data-server="r1"`)
	code, _, _ = b.post("/virtual/bundle/monitor", url.Values{"csrf": {csrf}, "send": {`GET / HTTP/1.0\r\n\r\n`}, "expect": {"HTTP"}, "use_regex": {"0"}, "check_type": {"tcp"}})
	if code != http.StatusSeeOther {
		t.Fatalf("monitor: %d", code)
	}
	before = e.written(before)
	has(t, string(before), `send = "GET / HTTP/1.0\r\n\r\n"`, "check_type = tcp")
	code, _, _ = b.post("/global", url.Values{"csrf": {csrf}, "tcp_timeout": {"700"}, "network": {"nat"}})
	if code != http.StatusSeeOther {
		t.Fatalf("global: %d", code)
	}
	before = e.written(before)
	code, _, _ = b.post("/redundancy", url.Values{"csrf": {csrf}, "backup_active": {"0", "1"}, "backup": {"127.0.0.2"}})
	if code != http.StatusSeeOther {
		t.Fatalf("redundancy: %d", code)
	}
	before = e.written(before)
	has(t, string(before), "backup_active = 1", "backup = 127.0.0.2", "tcp_timeout = 700")
	// Drain is runtime state: the table changes, the file does not.
	code, _, loc = b.post("/virtual/web/real/web1/drain", url.Values{"csrf": {csrf}})
	if code != http.StatusSeeOther {
		t.Fatalf("drain: %d", code)
	}
	e.unchanged(before)
	_, body = b.get(loc)
	has(t, body, `id="state-web1">draining`)
	code, _, _ = b.post("/virtual/bundle/deactivate", url.Values{"csrf": {csrf}})
	if code != http.StatusSeeOther {
		t.Fatalf("deactivate: %d", code)
	}
	before = e.written(before)
	code, _, _ = b.post("/virtual/bundle/real/r1/delete", url.Values{"csrf": {csrf}})
	if code != http.StatusSeeOther {
		t.Fatalf("delete real: %d", code)
	}
	before = e.written(before)
	code, _, _ = b.post("/virtual/bundle/delete", url.Values{"csrf": {csrf}})
	if code != http.StatusSeeOther {
		t.Fatalf("delete virtual: %d", code)
	}
	e.written(before)
}

func TestLoginRateLimit(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	for i := 0; i < loginBurst; i++ {
		code, _, _ := b.post("/login", url.Values{"user": {"admin"}, "password": {"wrong"}})
		if code != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d", i, code)
		}
	}
	code, body, _ := b.post("/login", url.Values{"user": {"admin"}, "password": {adminPass}})
	if code != http.StatusTooManyRequests || !strings.Contains(body, "Too many") {
		t.Fatalf("after %d failures the right password: %d", loginBurst, code)
	}
	// Another user from the same address is refused too (per address)...
	code, _, _ = b.post("/login", url.Values{"user": {"viewer"}, "password": {viewerPass}})
	if code != http.StatusTooManyRequests {
		t.Errorf("other user, same address: %d", code)
	}
	// ...and the user is refused from another address (per user).
	if !e.s.limit.blocked("user:admin", e.now) || e.s.limit.blocked("user:viewer", e.now) {
		t.Error("per-user limit")
	}
	e.now = e.now.Add(loginWindow + time.Second)
	b.login("admin", adminPass)
}

func TestUsersFile(t *testing.T) {
	u := []User{{Name: "a", Hash: "$2a$10$abc", Role: RoleAdmin, TokenHash: "ff"}, {Name: "b", Hash: "$2a$10$x", Role: RoleReadOnly}}
	got, err := ParseUsers(FormatUsers(u))
	if err != nil || len(got) != 2 || got[0] != u[0] || got[1] != u[1] {
		t.Fatalf("%v %v", got, err)
	}
	for _, bad := range []string{"a:b", "a:h:root", ":h:admin", "a:h:admin:t:x"} {
		if _, err := ParseUsers([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// A session ends when its user is deleted, demoted or given a new
// password: the next request finds the users file changed and is refused,
// as a fresh login with the old state would be.
func TestSessionsFollowTheUsersFile(t *testing.T) {
	for _, change := range []string{"deleted", "demoted", "new password"} {
		t.Run(change, func(t *testing.T) {
			e := newEnv(t)
			b := e.browser()
			b.login("admin", adminPass)
			if code, _ := b.get("/"); code != http.StatusOK {
				t.Fatalf("logged in: %d", code)
			}
			path := filepath.Join(e.dir, "users")
			users, err := ParseUsers(mustRead(t, path))
			if err != nil {
				t.Fatal(err)
			}
			var next []User
			for _, u := range users {
				if u.Name == "admin" {
					switch change {
					case "deleted":
						continue
					case "demoted":
						u.Role = RoleReadOnly
					case "new password":
						h, _ := bcrypt.GenerateFromPassword([]byte("a new one"), bcrypt.MinCost)
						u.Hash = string(h)
					}
				}
				next = append(next, u)
			}
			if err := os.WriteFile(path, FormatUsers(next), 0o600); err != nil {
				t.Fatal(err)
			}
			if code, _ := b.get("/"); code != http.StatusSeeOther {
				t.Errorf("after the user was %s, the old session got %d, want a redirect to /login", change, code)
			}
		})
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Failed logins cost bounded memory and log: 1,000 of them from 200
// addresses with 64 KiB user names keep the limiter's keys and the log
// lines short, and a spray that gets past the per-address and per-user
// limits meets a global one.
func TestFailedLoginsBounded(t *testing.T) {
	e := newEnv(t)
	var logBuf bytes.Buffer
	e.s.log = slog.New(slog.NewTextHandler(&logBuf, nil))
	name := strings.Repeat("x", 64<<10)
	refused := 0
	for i := range 1000 {
		form := url.Values{"user": {fmt.Sprintf("%s%d", name, i)}, "password": {"wrong"}}
		req := httptest.NewRequest("POST", "/login", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.RemoteAddr = fmt.Sprintf("198.51.100.%d:4000", i%200+1)
		rec := httptest.NewRecorder()
		e.s.loginPost(rec, req)
		if rec.Code == http.StatusTooManyRequests {
			refused++
		}
	}
	keys := 0
	e.s.limit.mu.Lock()
	for k := range e.s.limit.m {
		keys += len(k)
	}
	n := len(e.s.limit.m)
	e.s.limit.mu.Unlock()
	if keys > 64<<10 {
		t.Errorf("the limiter holds %d keys of %d bytes in all", n, keys)
	}
	if l := len(logBuf.String()); l > 1<<20 {
		t.Errorf("1,000 failed logins wrote %d bytes of log", l)
	}
	if refused == 0 {
		t.Error("no login was refused by a limit")
	}
	// An unknown user's password is compared against a hash of the users'
	// own cost, so that a wrong name takes as long as a wrong password.
	users, _ := e.s.users.load()
	cost, _ := bcrypt.Cost([]byte(users[0].Hash))
	if got, _ := bcrypt.Cost(e.s.users.dummyFor(cost)); got != cost {
		t.Errorf("dummy hash cost %d, users' %d", got, cost)
	}
}
