package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestAPIRequiresAuth(t *testing.T) {
	e := newEnv(t)
	before := e.file()
	for _, rt := range apiRoutes {
		path := strings.NewReplacer("{name}", "web", "{server}", "web1", "{action}", "drain", "{revision}", "1").Replace(rt.path)
		for _, tok := range []string{"", "govs_wrong"} {
			code, _ := e.do(rt.method, path, tok, map[string]any{"name": "x", "address": "127.0.0.1"})
			if code != http.StatusUnauthorized {
				t.Errorf("%s %s with token %q: %d, want 401", rt.method, path, tok, code)
			}
		}
	}
	e.unchanged(before)
	if len(e.r.Health().Overrides) != 0 {
		t.Error("an unauthenticated call set an override")
	}
}

func TestAPIReadOnlyUser(t *testing.T) {
	e := newEnv(t)
	before := e.file()
	for _, rt := range apiRoutes {
		path := strings.NewReplacer("{name}", "web", "{server}", "web1", "{action}", "drain", "{revision}", "1").Replace(rt.path)
		code, _ := e.do(rt.method, path, e.viewer, map[string]any{"name": "x"})
		if rt.write && code != http.StatusForbidden {
			t.Errorf("read-only %s %s: %d, want 403", rt.method, path, code)
		}
		if !rt.write && code != http.StatusOK {
			t.Errorf("read-only %s %s: %d, want 200", rt.method, path, code)
		}
	}
	e.unchanged(before)
}

func TestAPIMarkServiceLifecycle(t *testing.T) {
	e := newEnv(t)
	a, b := echoServer(t, "127.0.0.1:0"), echoServer(t, "127.0.0.1:0")
	p1, p2 := freePort(t), freePort(t)
	before := e.file()
	code, m := e.do("POST", "/api/v1/services", e.admin, map[string]any{
		"name": "bundle", "address": "127.0.0.1", "device": "lo", "fwmark": 42,
		"fwmark_ports": fmt.Sprintf("%d,%d", p1, p2), "scheduler": "rr", "active": true, "quiesce_server": 1, "timeout": 3, "reentry": 5,
		"send": `PING\r\n`, "expect": "PING", "check_type": "tcp",
	})
	if code != http.StatusCreated {
		t.Fatalf("add service: %d %v", code, m)
	}
	before = e.written(before)
	if !strings.Contains(string(before), "fwmark_ports = ") || !strings.Contains(string(before), "quiesce_server = 1") {
		t.Errorf("file lacks the new fields:\n%s", before)
	}
	for i, ln := range []net.Listener{a, b} {
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		// Port 0 on a mark service keeps the client's port; these real
		// servers listen elsewhere, so name theirs.
		code, m = e.do("POST", "/api/v1/services/bundle/servers", e.admin, map[string]any{
			"name": fmt.Sprintf("rs%d", i+1), "address": "127.0.0.1", "port": port, "weight": 2, "active": 1})
		if code != http.StatusCreated {
			t.Fatalf("add real server: %d %v", code, m)
		}
		before = e.written(before)
	}
	// Traffic through both bundled ports.
	for _, p := range []int{p1, p2} {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", p), 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(2 * time.Second))
		fmt.Fprint(c, "hello\n")
		buf := make([]byte, 6)
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hello\n" {
			t.Errorf("echo via port %d: %q %v", p, buf, err)
		}
		c.Close()
	}
	// The table shows the service and its two real servers.
	var snap struct {
		Services []struct {
			Name  string `json:"name"`
			Stats struct {
				Conns int `json:"conns"`
			} `json:"stats"`
			Dests []struct {
				Name, State string
			} `json:"real_servers"`
		} `json:"services"`
	}
	getJSON(t, e, "/api/v1/table", &snap)
	found := false
	for _, s := range snap.Services {
		if s.Name == "bundle" {
			found = true
			if len(s.Dests) != 2 || s.Stats.Conns < 2 {
				t.Errorf("bundle in table: %+v", s)
			}
		}
	}
	if !found {
		t.Fatalf("bundle not in the table: %+v", snap)
	}
	// Drain rs1: runtime only, the file stays.
	code, m = e.do("POST", "/api/v1/services/bundle/servers/rs1/drain", e.admin, nil)
	if code != http.StatusOK {
		t.Fatalf("drain: %d %v", code, m)
	}
	e.unchanged(before)
	getJSON(t, e, "/api/v1/table", &snap)
	for _, s := range snap.Services {
		for _, d := range s.Dests {
			if s.Name == "bundle" && d.Name == "rs1" && d.State != "draining" {
				t.Errorf("rs1 state %q after drain", d.State)
			}
		}
	}
	code, m = e.do("POST", "/api/v1/services/bundle/servers/rs1/bogus", e.admin, nil)
	if code != http.StatusBadRequest {
		t.Errorf("bogus action: %d %v", code, m)
	}
	// Edit a real server's weight, deactivate and activate, delete.
	if code, m = e.do("PUT", "/api/v1/services/bundle/servers/rs2", e.admin, map[string]any{"weight": 5}); code != 200 {
		t.Fatalf("edit server: %d %v", code, m)
	}
	before = e.written(before)
	if !strings.Contains(string(before), "weight = 5") {
		t.Error("weight not written")
	}
	if code, m = e.do("POST", "/api/v1/services/bundle/deactivate", e.admin, nil); code != 200 || m["active"] != "0" {
		t.Fatalf("deactivate: %d %v", code, m)
	}
	before = e.written(before)
	if e.r.Table().Service(e.r.Config().Services[1].Key()) != nil {
		t.Error("deactivated service still in the table")
	}
	if code, m = e.do("POST", "/api/v1/services/bundle/activate", e.admin, nil); code != 200 {
		t.Fatalf("activate: %d %v", code, m)
	}
	before = e.written(before)
	if code, m = e.do("PUT", "/api/v1/services/bundle", e.admin, map[string]any{"scheduler": "wrr", "persistent": 60, "pmask": "255.255.255.0", "sorry_server": "127.0.0.1:9", "check_type": ""}); code != 200 || m["scheduler"] != "wrr" {
		t.Fatalf("edit service: %d %v", code, m)
	}
	before = e.written(before)
	has(t, string(before), "persistent = 60", "pmask = 255.255.255.0", "sorry_server = 127.0.0.1:9")
	if strings.Contains(string(before), "check_type") {
		t.Error("an empty check_type was not removed")
	}
	if code, m = e.do("DELETE", "/api/v1/services/bundle/servers/rs2", e.admin, nil); code != 200 {
		t.Fatalf("delete server: %d %v", code, m)
	}
	before = e.written(before)
	if code, m = e.do("DELETE", "/api/v1/services/bundle", e.admin, nil); code != 200 {
		t.Fatalf("delete service: %d %v", code, m)
	}
	before = e.written(before)
	if strings.Contains(string(before), "bundle") {
		t.Error("deleted service still in the file")
	}
	if code, _ = e.do("DELETE", "/api/v1/services/bundle", e.admin, nil); code != http.StatusNotFound {
		t.Errorf("delete twice: %d", code)
	}
	e.unchanged(before)
}

func getJSON(t *testing.T, e *env, path string, v any) {
	t.Helper()
	req, _ := http.NewRequest("GET", e.ts.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+e.admin)
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

func TestAPIBadInputChangesNothing(t *testing.T) {
	e := newEnv(t)
	before := e.file()
	cases := []struct {
		method, path string
		body         map[string]any
		field        string
	}{
		{"POST", "/api/v1/services", map[string]any{"name": "x", "address": "300.1.1.1"}, "address"},
		{"POST", "/api/v1/services", map[string]any{"name": "x", "address": "127.0.0.1", "port": 70000}, "port"},
		{"POST", "/api/v1/services", map[string]any{"name": "x", "address": "127.0.0.1", "scheduler": "bogus"}, "scheduler"},
		{"POST", "/api/v1/services", map[string]any{"name": "x", "address": "127.0.0.1", "fwmark_ports": "80-70"}, "fwmark_ports"},
		{"POST", "/api/v1/services", map[string]any{"name": "web", "address": "127.0.0.1"}, "name"},
		{"POST", "/api/v1/services", map[string]any{"name": "x", "address": "127.0.0.1", "nonsense": 1}, "nonsense"},
		{"POST", "/api/v1/services", map[string]any{"name": "x", "address": "127.0.0.1", "check_type": "carrier-pigeon"}, "check_type"},
		{"PUT", "/api/v1/services/web", map[string]any{"persistent": -1}, "persistent"},
		{"PUT", "/api/v1/services/web/servers/web1", map[string]any{"weight": 70000}, "weight"},
		{"PUT", "/api/v1/global", map[string]any{"primary": "not-an-ip"}, "primary"},
		{"PUT", "/api/v1/global", map[string]any{"network": "carrier"}, "network"},
	}
	for _, c := range cases {
		code, m := e.do(c.method, c.path, e.admin, c.body)
		fields, _ := m["fields"].(map[string]any)
		if code != http.StatusBadRequest || fields[c.field] == nil {
			t.Errorf("%s %s %v: %d %v, want 400 naming %s", c.method, c.path, c.body, code, m, c.field)
		}
		e.unchanged(before)
	}
	// A misspelt field is answered with the one meant.
	code, m := e.do("PUT", "/api/v1/services/web", e.admin, map[string]any{"shceduler": "rr"})
	if fields, _ := m["fields"].(map[string]any); code != http.StatusBadRequest ||
		fields["shceduler"] != `unknown field "shceduler" (did you mean "scheduler"?)` {
		t.Errorf("misspelt field: %d %v", code, m)
	}
	e.unchanged(before)
	// Not JSON at all.
	req, _ := http.NewRequest("POST", e.ts.URL+"/api/v1/services", strings.NewReader("{"))
	req.Header.Set("Authorization", "Bearer "+e.admin)
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bad JSON: %d", resp.StatusCode)
	}
	e.unchanged(before)
	if h := e.r.History(); len(h) != 1 {
		t.Errorf("a refused change went into the history: %+v", h)
	}
}

func TestAPIRefusedReloadRestoresFile(t *testing.T) {
	e := newEnv(t)
	// A port something else holds: the proxy plane cannot bind it, so the
	// reload is refused after the file was written.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	_, port, _ := net.SplitHostPort(busy.Addr().String())
	before := e.file()
	code, m := e.do("POST", "/api/v1/services", e.admin, map[string]any{"name": "clash", "address": "127.0.0.1", "device": "lo", "port": port, "active": 1})
	if code != http.StatusConflict {
		t.Fatalf("service on a busy port: %d %v, want 409", code, m)
	}
	e.unchanged(before)
	if e.r.Status().ReloadErrors != 1 {
		t.Errorf("reload errors %d", e.r.Status().ReloadErrors)
	}
}

func TestAPIGlobal(t *testing.T) {
	e := newEnv(t)
	before := e.file()
	code, m := e.do("PUT", "/api/v1/global", e.admin, map[string]any{"tcp_timeout": 600, "backup": "127.0.0.2", "keepalive": 3, "deadtime": 9,
		"vrrp_priority": 120, "vrrp_preempt": true})
	if code != 200 {
		t.Fatalf("%d %v", code, m)
	}
	after := e.written(before)
	has(t, string(after), "tcp_timeout = 600", "backup = 127.0.0.2", "keepalive = 3", "deadtime = 9", "vrrp_priority = 120", "vrrp_preempt = 1")
	code, m = e.do("GET", "/api/v1/global", e.viewer, nil)
	if code != 200 || m["tcp_timeout"] != "600" {
		t.Errorf("get global: %d %v", code, m)
	}
	code, m = e.do("GET", "/api/v1/status", e.viewer, nil)
	if code != 200 || m["role"] != "active" {
		t.Errorf("status: %d %v", code, m)
	}
}

func TestOpenAPIDocument(t *testing.T) {
	e := newEnv(t)
	resp, err := http.Get(e.ts.URL + "/api/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		OpenAPI string                               `json:"openapi"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi %q", doc.OpenAPI)
	}
	for _, rt := range apiRoutes {
		op := doc.Paths[rt.path][strings.ToLower(rt.method)]
		if op == nil {
			t.Errorf("%s %s missing", rt.method, rt.path)
			continue
		}
		if _, ok := op["responses"].(map[string]any)["401"]; !ok {
			t.Errorf("%s %s lacks 401", rt.method, rt.path)
		}
	}
}

func TestMetricsAfterTraffic(t *testing.T) {
	e := newEnv(t)
	for i := 0; i < 3; i++ {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", e.svcPort), 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(2 * time.Second))
		fmt.Fprint(c, "ping\n")
		io.ReadFull(c, make([]byte, 5))
		c.Close()
	}
	e.do("PUT", "/api/v1/global", e.admin, map[string]any{"tcp_timeout": "bogus"})
	e.do("PUT", "/api/v1/global", e.admin, map[string]any{"tcp_timeout": 500})
	resp, err := http.Get(e.ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	body := string(raw)
	port := fmt.Sprint(e.svcPort)
	svc := `local_address="127.0.0.1",local_mark="",local_port="` + port + `",proto="TCP",service="web"`
	has(t, body,
		`govs_service_connections_total{`+svc+`} 3`, `govs_ipvs_connections_total 3`,
		`govs_service_connections_active{`+svc+`} 0`, `govs_service_incoming_bytes_total{`+svc+`} 15`,
		`govs_ipvs_backend_connections_active{local_address="127.0.0.1",local_mark="",local_port="`+port+`",proto="TCP",remote_address="127.0.0.1",remote_port="`,
		`govs_ipvs_backend_weight{`, `govs_backend_connections_total{`, `govs_backend_outgoing_bytes_total{`,
		`state="up"} 1`, `state="down"} 0`, `govs_router_role{role="active"} 1`, `govs_router_role{role="backup"} 0`,
		"govs_router_reloads_total 1", "govs_router_reload_errors_total 0", "govs_router_serial_no 8",
		`govs_health_check_duration_seconds_bucket{`, `govs_health_check_duration_seconds_count{`)
	// Rates are Prometheus's to compute: no gauge of them.
	if strings.Contains(body, "_rate{") {
		t.Errorf("a rate gauge:\n%s", grep(body, "_rate{"))
	}
	// What promtool check metrics checks.
	problems, err := promlint.New(bytes.NewReader(raw)).Lint()
	if err != nil || len(problems) > 0 {
		t.Errorf("promlint: %v %+v", err, problems)
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestRatesHistory(t *testing.T) {
	e := newEnv(t)
	e.s.sample()
	e.s.sample()
	var v struct {
		Points []point `json:"points"`
	}
	getJSON(t, e, "/api/v1/rates", &v)
	if len(v.Points) < 2 {
		t.Errorf("points %v", v.Points)
	}
	h := newHistory(3)
	for i := 0; i < 5; i++ {
		h.add(point{T: int64(i)})
	}
	if p := h.points(); len(p) != 3 || p[0].T != 2 || p[2].T != 4 {
		t.Errorf("ring %v", p)
	}
}

// Two services checking the same real server with the same send string
// but different timeouts are two monitors: /metrics must tell them apart
// (it answered 500 on the duplicate label set) and must not show what the
// checks send, which in real configurations holds tokens.
func TestMetricsMonitorsDistinctAndSecret(t *testing.T) {
	extra := `
virtual a {
    active = 1
    address = 127.0.0.2 lo
    protocol = tcp
    port = 81
    scheduler = rr
    send = "GET /?token=s3cr3t HTTP/1.0\r\n\r\n"
    timeout = 3
    server web1 {
        address = 127.0.0.1
        port = %[1]s
        active = 1
    }
}

virtual b {
    active = 1
    address = 127.0.0.2 lo
    protocol = tcp
    port = 82
    scheduler = rr
    send = "GET /?token=s3cr3t HTTP/1.0\r\n\r\n"
    timeout = 5
    server web1 {
        address = 127.0.0.1
        port = %[1]s
        active = 1
    }
}
`
	e := newEnvWith(t, extra)
	resp, err := http.Get(e.ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %s\n%s", resp.Status, raw)
	}
	body := string(raw)
	if strings.Contains(body, "s3cr3t") || strings.Contains(body, "GET /") {
		t.Errorf("/metrics shows what a check sends:\n%s", grep(body, "s3cr3t"))
	}
	if n := strings.Count(body, "govs_health_check_up{"); n < 3 {
		t.Errorf("%d health monitors in /metrics, want the web service's and the two with different timeouts:\n%s",
			n, grep(body, "govs_health_check_up{"))
	}
}

// With metrics_auth, /metrics asks for a token, and any user's will do;
// without, it is open.
func TestMetricsAuth(t *testing.T) {
	e := newEnvWith(t, "metrics_auth = 1\n# real server port %s\n")
	get := func(token string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, e.ts.URL+"/metrics", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get(""); code != http.StatusUnauthorized {
		t.Errorf("/metrics without a token under metrics_auth: %d, want 401", code)
	}
	if code := get("govs_nope"); code != http.StatusUnauthorized {
		t.Errorf("/metrics with a wrong token: %d, want 401", code)
	}
	if code := get(e.viewer); code != http.StatusOK {
		t.Errorf("/metrics with a read-only user's token: %d, want 200", code)
	}
	open := newEnv(t)
	resp, err := http.Get(open.ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/metrics without metrics_auth: %d, want 200", resp.StatusCode)
	}
}
