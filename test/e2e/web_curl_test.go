//go:build linux

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// curl runs the curl binary and returns the status code and body.
func curl(t *testing.T, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "curl", append([]string{"-sS", "-w", "\n%{http_code}"}, args...)...).Output()
	if err != nil {
		t.Fatalf("curl %v: %v", args, err)
	}
	s := strings.TrimRight(string(out), "\n")
	i := strings.LastIndexByte(s, '\n')
	code, _ := strconv.Atoi(s[i+1:])
	if i < 0 {
		return code, ""
	}
	return code, s[:i]
}

func TestWebAPIWithCurl(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed (scripts/deps.sh installs it)")
	}
	w := startWebRouter(t)
	api := w.url + "/api/v1"
	auth := "Authorization: Bearer " + w.admin
	js := "Content-Type: application/json"
	before := w.file(t)

	// Unauthenticated and wrongly authenticated calls: 401, nothing changes.
	for _, c := range [][]string{
		{"-X", "POST", "-H", js, "-d", `{"name":"x","address":"127.0.0.1","device":"lo"}`, api + "/services"},
		{"-X", "PUT", "-H", js, "-d", `{"tcp_timeout":5}`, api + "/global"},
		{"-X", "POST", "-H", "Authorization: Bearer govs_nope", "-H", js, "-d", `{"name":"x"}`, api + "/services"},
		{api + "/table"},
	} {
		if code, body := curl(t, c...); code != 401 {
			t.Errorf("curl %v: %d %s, want 401", c, code, body)
		}
	}
	w.unchanged(t, before)
	// The read-only token reads but cannot change.
	if code, _ := curl(t, "-H", "Authorization: Bearer "+w.viewer, api+"/table"); code != 200 {
		t.Errorf("read-only GET: %d", code)
	}
	if code, _ := curl(t, "-X", "PUT", "-H", "Authorization: Bearer "+w.viewer, "-H", js, "-d", `{"tcp_timeout":5}`, api+"/global"); code != 403 {
		t.Errorf("read-only PUT: %d", code)
	}
	w.unchanged(t, before)

	// A mark service bundling two ports, with two real servers.
	code, body := curl(t, "-X", "POST", "-H", auth, "-H", js, "-d",
		fmt.Sprintf(`{"name":"bundle","address":"127.0.0.1","device":"lo","fwmark":5,"fwmark_ports":"%d,%d","scheduler":"rr","active":true}`, w.p1, w.p2),
		api+"/services")
	if code != 201 {
		t.Fatalf("add service: %d %s", code, body)
	}
	for i, rs := range w.rs {
		_, port, _ := strings.Cut(rs, ":")
		code, body = curl(t, "-X", "POST", "-H", auth, "-H", js, "-d",
			fmt.Sprintf(`{"name":"rs%d","address":"127.0.0.1","port":%s,"active":1}`, i+1, port), api+"/services/bundle/servers")
		if code != 201 {
			t.Fatalf("add real server: %d %s", code, body)
		}
	}
	if !strings.Contains(string(w.file(t)), "serial_no = 4") {
		t.Errorf("serial_no not 4 after three changes:\n%s", w.file(t))
	}
	if seen := w.reached(t, 4); !seen["rs1"] || !seen["rs2"] {
		t.Errorf("traffic reached %v, want both real servers", seen)
	}
	code, body = curl(t, "-H", auth, api+"/table")
	var snap struct {
		Services []struct {
			Name  string
			Stats struct{ Conns int }
			Dests []struct{ Name, State string } `json:"real_servers"`
		}
	}
	if code != 200 || json.Unmarshal([]byte(body), &snap) != nil || len(snap.Services) != 1 || snap.Services[0].Stats.Conns < 8 {
		t.Fatalf("table: %d %s", code, body)
	}
	// Drain rs1: runtime state only.
	before = w.file(t)
	if code, body = curl(t, "-X", "POST", "-H", auth, api+"/services/bundle/servers/rs1/drain"); code != 200 {
		t.Fatalf("drain: %d %s", code, body)
	}
	w.unchanged(t, before)
	_, body = curl(t, "-H", auth, api+"/table")
	if !strings.Contains(body, `"state": "draining"`) {
		t.Errorf("rs1 not draining:\n%s", body)
	}
	for i := 0; i < 4; i++ {
		if got := fetchVia(t, w.p1); !strings.HasPrefix(got, "rs2") {
			t.Errorf("after draining rs1, a new connection reached %q", got)
		}
	}
	// Bad input: 400 with the field, the file byte-identical.
	code, body = curl(t, "-X", "PUT", "-H", auth, "-H", js, "-d", `{"weight":-1}`, api+"/services/bundle/servers/rs2")
	if code != 400 || !strings.Contains(body, `"weight"`) {
		t.Errorf("bad weight: %d %s", code, body)
	}
	code, body = curl(t, "-X", "POST", "-H", auth, "-H", js, "-d", `{"name":"x","address":"127.0.0.1"}`, api+"/services")
	if code != 400 || !strings.Contains(body, "device") {
		t.Errorf("no device: %d %s", code, body)
	}
	w.unchanged(t, before)
	// Metrics and the OpenAPI document.
	_, body = curl(t, w.url+"/metrics")
	for _, m := range []string{`govs_service_connections_total{local_address="",local_mark="5",local_port="0",proto="FWM",service="bundle"}`,
		`govs_backend_state{`, `govs_ipvs_backend_connections_active{`, "govs_router_reloads_total 3"} {
		if !strings.Contains(body, m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
	promtoolCheck(t, body)
	code, body = curl(t, w.url+"/api/openapi.json")
	var doc map[string]any
	if code != 200 || json.Unmarshal([]byte(body), &doc) != nil || doc["paths"] == nil {
		t.Errorf("openapi: %d", code)
	}
	// Delete everything again.
	if code, body = curl(t, "-X", "DELETE", "-H", auth, api+"/services/bundle"); code != 200 {
		t.Fatalf("delete: %d %s", code, body)
	}
	if strings.Contains(string(w.file(t)), "bundle") {
		t.Error("deleted service still in lvs.cf")
	}
}

// promtoolCheck runs Prometheus's own promtool check metrics on a scrape:
// names, units, types and help as Prometheus wants them.
func promtoolCheck(t *testing.T, scrape string) {
	t.Helper()
	if _, err := exec.LookPath("promtool"); err != nil {
		if os.Geteuid() == 0 {
			t.Fatal("promtool is not installed (as root, scripts/deps.sh installs Debian's prometheus package)")
		}
		t.Log("promtool not installed: skipping promtool check metrics")
		return
	}
	cmd := exec.Command("promtool", "check", "metrics")
	cmd.Stdin = strings.NewReader(scrape)
	if out, err := cmd.CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}
