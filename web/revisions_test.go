package web

import (
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// mailCfg is an operator's commented block, in tabs, after the test's web
// service; inactive, so nothing is bound for it.
const mailCfg = `
# Mail: one mark for SMTP and submission. Ask Ann first.
virtual mail {
	active = 0
	address = 127.0.0.2 lo
	port = smtp
	scheduler = rr
	# the primary exchanger
	server mx1 {
		address = 127.0.0.1
		port = %[1]s
		active = 1
	}
}
`

// API edits change only their own lines of a commented file; the history
// records each with its author and diff; a rollback brings a revision's
// text back, as a new revision.
func TestAPIEditsKeepTheFileAndRollBack(t *testing.T) {
	e := newEnvWith(t, mailCfg)
	orig := string(e.file())
	step := func(method, path string, body any, old, new string) {
		t.Helper()
		before := string(e.file())
		if code, m := e.do(method, path, e.admin, body); code/100 != 2 {
			t.Fatalf("%s %s: %d %v", method, path, code, m)
		}
		after := string(e.written([]byte(before)))
		// serial_no goes up by one, as with every change.
		var serial int
		for _, l := range strings.Split(before, "\n") {
			if v, ok := strings.CutPrefix(l, "serial_no = "); ok {
				serial, _ = strconv.Atoi(v)
			}
		}
		want := strings.Replace(strings.Replace(before, old, new, 1),
			fmt.Sprintf("serial_no = %d\n", serial), fmt.Sprintf("serial_no = %d\n", serial+1), 1)
		if after != want {
			t.Fatalf("%s %s changed more than its lines:\n%s\nwant:\n%s", method, path, after, want)
		}
	}
	step("PUT", "/api/v1/services/mail/servers/mx1", map[string]any{"weight": 4},
		"\t\tactive = 1\n\t}\n}\n", "\t\tactive = 1\n\t\tweight = 4\n\t}\n}\n")
	step("POST", "/api/v1/services/mail/servers", map[string]any{"name": "mx2", "address": "127.0.0.1", "port": 2525, "active": true},
		"\t\tweight = 4\n\t}\n}\n", "\t\tweight = 4\n\t}\n\tserver mx2 {\n\t\taddress = 127.0.0.1\n\t\tactive = 1\n\t\tport = 2525\n\t}\n}\n")
	i := strings.Index(string(e.file()), "\t# the primary exchanger")
	j := strings.Index(string(e.file()), "\tserver mx2 {")
	step("DELETE", "/api/v1/services/mail/servers/mx1", nil, string(e.file())[i:j], "")

	var revs []map[string]any
	code, m := e.do("GET", "/api/v1/history", e.viewer, nil)
	_ = json.Unmarshal([]byte(m["_raw"].(string)), &revs)
	if code != http.StatusOK || len(revs) != 4 || revs[0]["action"] != "start" || revs[3]["author"] != "api admin" {
		t.Fatalf("history: %d %v", code, revs)
	}
	code, m = e.do("GET", "/api/v1/history/2", e.viewer, nil)
	if code != http.StatusOK || !strings.Contains(m["diff"].(string), "+\t\tweight = 4\n") || m["added"] != 2.0 {
		t.Fatalf("revision 2: %d %v", code, m)
	}

	if code, m := e.do("POST", "/api/v1/history/1/rollback", e.admin, nil); code != http.StatusOK {
		t.Fatalf("rollback: %d %v", code, m)
	}
	if got, want := string(e.file()), strings.Replace(orig, "serial_no = 7", "serial_no = 11", 1); got != want {
		t.Fatalf("after the rollback:\n%s\nwant:\n%s", got, want)
	}
	for path, want := range map[string]int{"/api/v1/history/99/rollback": 404, "/api/v1/history/x/rollback": 400,
		"/api/v1/history/0": 400, "/api/v1/history/99": 404} {
		method := "POST"
		if !strings.HasSuffix(path, "rollback") {
			method = "GET"
		}
		if code, m := e.do(method, path, e.admin, nil); code != want || m["error"] == "" {
			t.Errorf("%s %s: %d %v, want %d with a reason", method, path, code, m, want)
		}
	}
}

// The HISTORY page lists the revisions with their diffs; its button rolls
// back, with the session's CSRF token only.
func TestHistoryPage(t *testing.T) {
	e := newEnvWith(t, mailCfg)
	b := e.browser()
	csrf := b.login("admin", adminPass)
	if code, _, _ := b.post("/virtual/mail/real/mx1", url.Values{"csrf": {csrf}, "name": {"mx1"}, "address": {"127.0.0.1"},
		"weight": {"3"}, "active": {"1"}}); code != http.StatusSeeOther {
		t.Fatalf("edit: %d", code)
	}
	code, body := b.get("/history")
	body = html.UnescapeString(body)
	if code != http.StatusOK || !strings.Contains(body, `data-revision="2"`) || !strings.Contains(body, "web admin") ||
		!strings.Contains(body, "+\t\tweight = 3") || !strings.Contains(body, `action="/history/1/rollback"`) {
		t.Fatalf("history page: %d\n%s", code, body)
	}
	before := e.file()
	if code, _, _ := b.post("/history/1/rollback", url.Values{"csrf": {"wrong"}}); code != http.StatusForbidden {
		t.Fatalf("rollback without the CSRF token: %d", code)
	}
	e.unchanged(before)
	if code, _, loc := b.post("/history/1/rollback", url.Values{"csrf": {csrf}}); code != http.StatusSeeOther || loc != "/history?saved=1" {
		t.Fatalf("rollback: %d %s", code, loc)
	}
	if w := e.r.Config().Services[1].RealServers[0].Weight; w != 1 {
		t.Fatalf("weight after the rollback: %d", w)
	}
}

// A field reads as its keyword does in lvs.cf: what the file accepts the
// API accepts, in the same spelling, and what it refuses the API refuses
// with the same words.
func TestFieldsReadAsTheFile(t *testing.T) {
	e := newEnv(t)
	for _, tt := range []struct {
		body map[string]any
		ok   bool
	}{
		{map[string]any{"port": "http"}, true},
		{map[string]any{"fwmark": "0x1f", "fwmark_ports": "http,https"}, true},
		{map[string]any{"sorry_server": "0.0.0.0"}, true},
		{map[string]any{"one_packet": "yes"}, false},
		{map[string]any{"persistent": -1}, false},
	} {
		code, m := e.do("PUT", "/api/v1/services/web", e.admin, tt.body)
		if (code == http.StatusOK) != tt.ok {
			t.Errorf("%v: %d %v", tt.body, code, m)
		}
	}
	svc := e.r.Config().Services[0]
	if svc.Port != 80 || svc.FWMark != 31 || svc.MarkPorts.String() != "80,443" || svc.Sorry.IsValid() {
		t.Errorf("running service: port %d, fwmark %d, ports %s, sorry %v", svc.Port, svc.FWMark, svc.MarkPorts, svc.Sorry)
	}
	_, m := e.do("PUT", "/api/v1/services/web", e.admin, map[string]any{"one_packet": "yes"})
	if f, _ := m["fields"].(map[string]any); f["one_packet"] != `boolean expected (0 or 1), got "yes"` {
		t.Errorf("one_packet = yes refused with %v", m)
	}
}
