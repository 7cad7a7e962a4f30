//go:build linux

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/govs/govs/internal/testutil"
)

// dashboardExprs lists the PromQL of every panel and variable of the
// Grafana dashboard in the repository, with Grafana's variables given the
// values a dashboard of one router would give them.
func dashboardExprs(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile("../../dashboards/govs.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Query any `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("dashboards/govs.json: %v", err)
	}
	r := strings.NewReplacer("$instance", ".*", "$__rate_interval", "1m")
	var out []string
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			out = append(out, r.Replace(tg.Expr))
		}
	}
	// label_values(METRIC, LABEL) needs METRIC with LABEL.
	for _, v := range d.Templating.List {
		if q, ok := v.Query.(map[string]any); ok {
			s, _ := q["query"].(string)
			if m, ok := strings.CutPrefix(s, "label_values("); ok {
				metric, label, _ := strings.Cut(strings.TrimSuffix(m, ")"), ", ")
				out = append(out, fmt.Sprintf("count by (%s) (%s)", label, metric))
			}
		}
	}
	return out
}

// Every query of the Grafana dashboard selects series a running govs
// exports: a real Prometheus (Debian's) scrapes a router with a service,
// two real servers and their health checks, and each query must answer
// with at least one series.
func TestDashboardQueriesSelectSeries(t *testing.T) {
	prom, err := exec.LookPath("prometheus")
	if err != nil {
		if os.Geteuid() == 0 {
			t.Fatal("prometheus is not installed (as root, scripts/deps.sh installs Debian's prometheus package)")
		}
		t.Skip("prometheus is not installed")
	}
	exprs := dashboardExprs(t)
	dir := t.TempDir()
	users := filepath.Join(dir, "users")
	passwd(t, users, "admin-pass-1", "-u", "admin")
	rs1, rs2 := serveHTTPBackend(t, "rs1", "127.0.0.1:0"), serveHTTPBackend(t, "rs2", "127.0.0.1:0")
	vport, httpPort, promPort := freeLoopbackPort(t), freeLoopbackPort(t), freeLoopbackPort(t)
	host := func(a string) (string, string) { h, p, _ := strings.Cut(a, ":"); return h, p }
	h1, p1 := host(rs1)
	h2, p2 := host(rs2)
	cfg := filepath.Join(dir, "lvs.cf")
	writeFile(t, cfg, fmt.Sprintf(`serial_no = 1
primary = 127.0.0.1
service = lvs
dataplane = proxy
http_listen = 127.0.0.1:%d
http_users = users

virtual web {
    active = 1
    address = 127.0.0.1 lo
    port = %d
    scheduler = wlc
    timeout = 1
    server rs1 {
        address = %s
        port = %s
        active = 1
    }
    server rs2 {
        address = %s
        port = %s
        active = 1
        weight = 2
    }
}
`, httpPort, vport, h1, p1, h2, p2))
	startRouter(t, nil, cfg)
	metrics := fmt.Sprintf("127.0.0.1:%d", httpPort)
	testutil.Eventually(t, 10*time.Second, func() error {
		resp, err := http.Get("http://" + metrics + "/metrics")
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	})
	// Some traffic, so that every counter has moved.
	for range 6 {
		fetchVia(t, vport)
	}

	promCfg := filepath.Join(dir, "prometheus.yml")
	writeFile(t, promCfg, fmt.Sprintf("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: govs\n    static_configs:\n      - targets: [%q]\n", metrics))
	ctx, cancel := context.WithCancel(context.Background())
	log := &testutil.Buffer{}
	cmd := exec.CommandContext(ctx, prom, "--config.file="+promCfg, "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", promPort))
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("prometheus:\n%s", log.String())
		}
	})
	query := func(q string) (int, error) {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/api/v1/query?query=%s", promPort, url.QueryEscape(q)))
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		var r struct {
			Status string `json:"status"`
			Error  string `json:"error"`
			Data   struct {
				Result []json.RawMessage `json:"result"`
			} `json:"data"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
			return 0, err
		}
		if r.Status != "success" {
			return 0, fmt.Errorf("%s", r.Error)
		}
		return len(r.Data.Result), nil
	}
	// Enough scrapes for rate() over the dashboard's window.
	testutil.Eventually(t, 30*time.Second, func() error {
		n, err := query(`count_over_time(up{job="govs"}[1m]) >= 4`)
		if err == nil && n == 0 {
			err = fmt.Errorf("fewer than 4 scrapes of %s yet", metrics)
		}
		return err
	})
	for _, q := range exprs {
		if n, err := query(q); err != nil || n == 0 {
			t.Errorf("dashboard query selects nothing (%d series, %v):\n  %s", n, err, q)
		}
	}
	t.Logf("%d dashboard queries, each answered with series", len(exprs))
}
