//go:build linux

package e2e

import (
	"context"
	"fmt"
	"github.com/chromedp/cdproto/input"
	cdplog "github.com/chromedp/cdproto/log"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// browserCtx starts headless Chromium with a fresh profile. Without
// chromium the test skips, except as root, where scripts/deps.sh installs
// it and its absence is a failure.
func browserCtx(t *testing.T) context.Context {
	t.Helper()
	path := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		if os.Geteuid() == 0 {
			t.Fatal("chromium is not installed: run scripts/deps.sh")
		}
		t.Skip("chromium is not installed (scripts/deps.sh installs it as root); skipping the browser test")
	}
	// Not t.TempDir: Chromium's helpers may still be writing to the
	// profile when the browser process exits, so removal is retried.
	profile, err := os.MkdirTemp("", "govs-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1400, 1000),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() {
		_ = chromedp.Cancel(ctx)
		cancelT()
		cancelB()
		cancelA()
		for i := 0; i < 50; i++ {
			if os.RemoveAll(profile) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("could not remove the browser profile %s", profile)
	})
	// What the browser reports as going wrong (a script's exception, a
	// console.error, a resource refused by the Content-Security-Policy or
	// not found) fails the test: pages must work without errors.
	var mu sync.Mutex
	var problems []string
	chromedp.ListenTarget(ctx, func(ev any) {
		var p string
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			p = "exception: " + ev.ExceptionDetails.Text
			if ev.ExceptionDetails.Exception != nil {
				p += " " + ev.ExceptionDetails.Exception.Description
			}
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.APITypeError {
				p = "console.error"
				for _, a := range ev.Args {
					p += " " + string(a.Value)
				}
			}
		case *cdplog.EventEntryAdded:
			// A page the test asks for to be refused (a bad edit, a
			// read-only user's change) is a 4xx the browser logs: not a
			// fault of the page. A missing asset is.
			refused := strings.HasPrefix(ev.Entry.Text, "Failed to load resource: the server responded with a status of 4") &&
				!strings.Contains(ev.Entry.URL, "/static/")
			if ev.Entry.Level == cdplog.LevelError && !refused {
				p = "log: " + ev.Entry.Text + " " + ev.Entry.URL
			}
		}
		if p != "" {
			mu.Lock()
			problems = append(problems, p)
			mu.Unlock()
		}
	})
	if err := chromedp.Run(ctx, cdplog.Enable(), runtime.Enable()); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, p := range problems {
			t.Errorf("the browser reported: %s", p)
		}
	})
	return ctx
}

func run(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action) {
	t.Helper()
	if err := chromedp.Run(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// shotDir is where screenshots go: $GOVS_SCREENSHOTS if set, to keep them,
// or the test's temporary directory.
func shotDir(t *testing.T) string {
	if d := os.Getenv("GOVS_SCREENSHOTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	var buf []byte
	run(t, ctx, "screenshot "+name, chromedp.FullScreenshot(&buf, 100)) // 100: PNG
	p := filepath.Join(dir, name+".png")
	if err := os.WriteFile(p, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", p)
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	var s string
	run(t, ctx, "text of "+sel, chromedp.Text(sel, &s, chromedp.ByQuery))
	return s
}

func TestWebToolInChromium(t *testing.T) {
	ctx := browserCtx(t)
	w := startWebRouter(t)
	shots := shotDir(t)

	// Without a session every page leads to the login form.
	run(t, ctx, "open without a session", chromedp.Navigate(w.url+"/virtual"), chromedp.WaitVisible("#login-form", chromedp.ByQuery))
	screenshot(t, ctx, shots, "01-login")
	// A wrong password is refused.
	run(t, ctx, "wrong password",
		chromedp.SendKeys("#user", "admin", chromedp.ByQuery), chromedp.SendKeys("#password", "nope-nope", chromedp.ByQuery),
		chromedp.Click("#login-submit", chromedp.ByQuery), chromedp.WaitVisible("#form-error", chromedp.ByQuery))
	// Log in.
	run(t, ctx, "log in",
		chromedp.SetValue("#user", "admin", chromedp.ByQuery), chromedp.SetValue("#password", w.adminPass, chromedp.ByQuery),
		chromedp.Click("#login-submit", chromedp.ByQuery), chromedp.WaitVisible("#lvs-table", chromedp.ByQuery))
	if role := text(t, ctx, "#status-role"); role != "active" {
		t.Errorf("role %q", role)
	}

	// Add a mark service bundling two ports.
	before := w.file(t)
	initial := before
	run(t, ctx, "add virtual server",
		chromedp.Navigate(w.url+"/virtual"), chromedp.Click("#add-virtual", chromedp.ByQuery),
		chromedp.WaitVisible("#service-form", chromedp.ByQuery),
		chromedp.SetValue("#f-name", "bundle", chromedp.ByQuery),
		chromedp.SetValue("#f-address", "127.0.0.1", chromedp.ByQuery),
		chromedp.SetValue("#f-device", "lo", chromedp.ByQuery),
		chromedp.SetValue("#f-fwmark", "5", chromedp.ByQuery),
		chromedp.SetValue("#f-fwmark_ports", fmt.Sprintf("%d,%d", w.p1, w.p2), chromedp.ByQuery),
		chromedp.SetValue("#f-scheduler", "rr", chromedp.ByQuery),
		chromedp.Click("#f-active", chromedp.ByQuery),
	)
	screenshot(t, ctx, shots, "02-virtual-server-form")
	run(t, ctx, "save virtual server", chromedp.Click("#save", chromedp.ByQuery), chromedp.WaitVisible("#real-form", chromedp.ByQuery))
	if after := w.file(t); !strings.Contains(string(after), "fwmark = 5") || !strings.Contains(string(after), "serial_no = 2") {
		t.Fatalf("lvs.cf after adding:\n%s", after)
	}
	if kept, _ := os.ReadFile(filepath.Join(w.cfg+".history", "lvs.cf.1")); string(kept) != string(before) {
		t.Error("the history does not keep the previous file (serial 1)")
	}
	// Two real servers.
	for i, rs := range w.rs {
		_, port, _ := strings.Cut(rs, ":")
		name := fmt.Sprintf("rs%d", i+1)
		run(t, ctx, "add "+name,
			chromedp.SetValue("#f-name", name, chromedp.ByQuery),
			chromedp.SetValue("#f-address", "127.0.0.1", chromedp.ByQuery),
			chromedp.SetValue("#f-port", port, chromedp.ByQuery),
			chromedp.Click("#f-active", chromedp.ByQuery),
			chromedp.Click("#add-real", chromedp.ByQuery),
			chromedp.WaitVisible(`tr[data-server="`+name+`"]`, chromedp.ByQuery))
	}
	screenshot(t, ctx, shots, "03-real-servers")

	// Traffic through both ports, then the live table shows it.
	if seen := w.reached(t, 5); !seen["rs1"] || !seen["rs2"] {
		t.Errorf("traffic reached %v", seen)
	}
	run(t, ctx, "control page", chromedp.Navigate(w.url+"/"),
		chromedp.WaitVisible(`tr.svc[data-service="bundle"]`, chromedp.ByQuery))
	// Auto-refresh replaces the table every 2 s; wait for a refresh, and for
	// the chart to have a few samples.
	var conns string
	deadline := time.Now().Add(20 * time.Second)
	for {
		run(t, ctx, "read table", chromedp.Sleep(time.Second),
			chromedp.Text(`tr.svc[data-service="bundle"] td:nth-child(8)`, &conns, chromedp.ByQuery))
		var upd string
		run(t, ctx, "updated", chromedp.Text("#updated", &upd, chromedp.ByQuery))
		if conns == "10" && upd != "" || time.Now().After(deadline) {
			break
		}
	}
	if conns != "10" {
		t.Errorf("the table shows %q connections for bundle, want 10", conns)
	}
	// Steady traffic for a while, so that the rate estimators and the
	// chart have something to show.
	stop := make(chan struct{})
	trafficDone := make(chan struct{})
	go func() {
		defer close(trafficDone)
		for i := 0; i < 400; i++ {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			cctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, _ = get(cctx, fmt.Sprintf("http://127.0.0.1:%d/", []int{w.p1, w.p2}[i%2]), "")
			cancel()
		}
	}()
	var rated bool
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline) && !rated; {
		run(t, ctx, "wait for rates", chromedp.Sleep(time.Second),
			chromedp.Evaluate(`fetch("/api/v1/rates").then(r => r.json()).then(d => d.points.some(p => p.cps > 0 && p.inbps > 0))`, &rated,
				func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }))
	}
	if !rated {
		t.Error("no sample with connection and byte rates after steady traffic")
	}
	run(t, ctx, "let the page refresh", chromedp.Sleep(3*time.Second))
	close(stop)
	<-trafficDone
	screenshot(t, ctx, shots, "04-control-monitoring")
	// Both charts are drawn, with a time axis, and hovering one shows the
	// values under the pointer in its legend.
	for _, id := range []string{"chart-conns", "chart-bytes"} {
		var drawn bool
		run(t, ctx, id+" drawn", chromedp.Evaluate(`Array.from(document.querySelectorAll("#`+id+` canvas")).some(function(c){
			var d=c.getContext("2d").getImageData(0,0,c.width,c.height).data;for(var i=3;i<d.length;i+=4){if(d[i]!==0)return true}return false})`, &drawn))
		if !drawn {
			t.Errorf("the %s chart is blank", id)
		}
		var times []string
		run(t, ctx, id+" time axis", chromedp.Evaluate(`Array.from(document.querySelectorAll("#`+id+` .dygraph-axis-label-x")).map(function(e){return e.textContent})`, &times))
		if len(times) == 0 || !regexp.MustCompile(`^\d\d:\d\d:\d\d$`).MatchString(times[0]) {
			t.Errorf("the %s chart's x axis is not a time axis: %q", id, times)
		}
	}
	var box []float64
	run(t, ctx, "chart box", chromedp.Evaluate(`(function(){var r=document.getElementById("chart-conns").getBoundingClientRect();return [r.left+r.width*0.8, r.top+r.height/2]})()`, &box))
	run(t, ctx, "hover the chart", chromedp.MouseEvent(input.MouseMoved, box[0], box[1]), chromedp.Sleep(300*time.Millisecond))
	if legend := text(t, ctx, "#legend-conns"); !strings.Contains(legend, "connections/s:") {
		t.Errorf("hovering the chart shows no values: %q", legend)
	}

	// Drain rs1 and see its state change.
	run(t, ctx, "drain rs1", chromedp.Navigate(w.url+"/virtual/bundle/real"),
		chromedp.WaitVisible("#drain-rs1", chromedp.ByQuery), chromedp.Click("#drain-rs1", chromedp.ByQuery),
		chromedp.WaitVisible("#flash", chromedp.ByQuery))
	if st := text(t, ctx, "#state-rs1"); st != "draining" {
		t.Errorf("rs1 state %q after drain", st)
	}
	screenshot(t, ctx, shots, "05-drained")
	if got := fetchVia(t, w.p1); !strings.HasPrefix(got, "rs2") {
		t.Errorf("after the drain a new connection reached %q", got)
	}

	// Bad input: the error is next to its field, the file byte-identical.
	before = w.file(t)
	run(t, ctx, "bad weight", chromedp.Navigate(w.url+"/virtual/bundle/real/rs2"),
		chromedp.WaitVisible("#real-edit-form", chromedp.ByQuery),
		chromedp.SetValue("#f-weight", "-5", chromedp.ByQuery), chromedp.Click("#save", chromedp.ByQuery),
		chromedp.WaitVisible("#err-weight", chromedp.ByQuery))
	var inField bool
	run(t, ctx, "error placement", chromedp.Evaluate(`document.getElementById("err-weight").parentElement.contains(document.getElementById("f-weight"))`, &inField))
	if !inField {
		t.Error("the weight error is not beside the weight field")
	}
	screenshot(t, ctx, shots, "06-bad-input")
	w.unchanged(t, before)
	run(t, ctx, "bad VIP", chromedp.Navigate(w.url+"/virtual/bundle"),
		chromedp.WaitVisible("#service-form", chromedp.ByQuery),
		chromedp.SetValue("#f-address", "10.1.2.300", chromedp.ByQuery), chromedp.Click("#save", chromedp.ByQuery),
		chromedp.WaitVisible("#err-address", chromedp.ByQuery))
	w.unchanged(t, before)

	// The HISTORY page shows every revision with its diff, and rolls back.
	var rows int
	var newest string
	run(t, ctx, "history page", chromedp.Navigate(w.url+"/history"), chromedp.WaitVisible("#history", chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelectorAll("#history tr[data-revision]").length`, &rows),
		// textContent: the older diffs are folded, and hidden text has no innerText.
		chromedp.Evaluate(`document.getElementById("diff-2").textContent`, &newest))
	if revs := len(historyFiles(t, w.cfg)); rows != revs || rows < 4 || !strings.Contains(newest, "+virtual bundle {") {
		t.Errorf("history page: %d rows for %d revisions; revision 2's diff:\n%s", rows, revs, newest)
	}
	screenshot(t, ctx, shots, "06b-history")
	run(t, ctx, "roll back to revision 1", chromedp.Evaluate(`window.confirm = function () { return true }`, nil),
		chromedp.Click("#rollback-1", chromedp.ByQuery), chromedp.WaitVisible("#flash", chromedp.ByQuery))
	if got, want := string(w.file(t)), strings.Replace(string(initial), "serial_no = 1\n", fmt.Sprintf("serial_no = %d\n", rows+1), 1); got != want {
		t.Errorf("after the rollback lvs.cf is:\n%s\nwant:\n%s", got, want)
	}
	out, _, code := govs(t, "history", "--socket", w.socket)
	if lines := strings.Split(strings.TrimSpace(out), "\n"); code != 0 || !strings.Contains(lines[len(lines)-1], "web admin") ||
		!strings.Contains(lines[len(lines)-1], "rollback to 1") {
		t.Errorf("govs history after the rollback: %d\n%s", code, out)
	}

	phoneLayout(t, ctx, w, shots)

	// Without the CSRF token a change is refused.
	before = w.file(t)
	var body string
	run(t, ctx, "no CSRF", chromedp.Navigate(w.url+"/global"), chromedp.WaitVisible("#global-form", chromedp.ByQuery),
		chromedp.SetValue("#f-tcp_timeout", "600", chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelector('#global-form input[name=csrf]').value = ""`, nil),
		chromedp.Click("#save", chromedp.ByQuery), chromedp.WaitVisible("#form-error", chromedp.ByQuery),
		chromedp.Text("#form-error", &body, chromedp.ByQuery))
	if !strings.Contains(body, "security token") {
		t.Errorf("without CSRF: %q", body)
	}
	w.unchanged(t, before)
	// Without a session a change is refused.
	run(t, ctx, "no session", chromedp.Navigate(w.url+"/global"), chromedp.WaitVisible("#global-form", chromedp.ByQuery),
		chromedp.SetValue("#f-tcp_timeout", "600", chromedp.ByQuery),
		network.ClearBrowserCookies(),
		chromedp.Click("#save", chromedp.ByQuery), chromedp.WaitVisible("#form-error", chromedp.ByQuery),
		chromedp.Text("#form-error", &body, chromedp.ByQuery))
	if !strings.Contains(body, "Not logged in") {
		t.Errorf("without a session: %q", body)
	}
	screenshot(t, ctx, shots, "07-no-session")
	w.unchanged(t, before)
	run(t, ctx, "back to login", chromedp.Navigate(w.url+"/"), chromedp.WaitVisible("#login-form", chromedp.ByQuery))
}

// phoneLayout opens each page at a phone's size: nothing makes the page
// scroll sideways (wide tables scroll inside their card), and each page
// is screenshot.
func phoneLayout(t *testing.T, ctx context.Context, w *webRouter, shots string) {
	t.Helper()
	run(t, ctx, "phone size", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)))
	defer run(t, ctx, "desktop size", chromedp.EmulateViewport(1400, 1000))
	for _, pg := range []struct{ path, ready, shot string }{
		{"/", "#lvs-table", "08-phone-control"}, {"/global", "#global-form", "08-phone-global"},
		{"/redundancy", "#redundancy-form", "08-phone-redundancy"}, {"/virtual", "#virtual-list", "08-phone-virtual"},
		{"/history", "#history", "08-phone-history"},
	} {
		var wide []float64
		run(t, ctx, "phone "+pg.path, chromedp.Navigate(w.url+pg.path), chromedp.WaitVisible(pg.ready, chromedp.ByQuery),
			chromedp.Sleep(300*time.Millisecond),
			chromedp.Evaluate(`[document.documentElement.scrollWidth, window.innerWidth]`, &wide))
		if len(wide) != 2 || wide[0] > wide[1] {
			t.Errorf("%s at a phone's width scrolls sideways: %v (content, window)", pg.path, wide)
		}
		screenshot(t, ctx, shots, pg.shot)
	}
}
