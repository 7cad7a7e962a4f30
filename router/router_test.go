package router

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/govs/govs/config"
	"github.com/govs/govs/dataplane"
	"github.com/govs/govs/dataplane/ipvs"
	"github.com/govs/govs/model"
	"github.com/govs/govs/scheduler"
	"github.com/govs/govs/table"
)

// refusingPlane is a data plane that, like a kernel without ip_vs_twos,
// prepares anything but refuses at Commit a table holding a twos
// service. It records the services each successful Commit installed.
type refusingPlane struct {
	t *table.Table

	mu        sync.Mutex
	installed []string
}

func (p *refusingPlane) Name() string { return ipvs.Capabilities.Name }

func (p *refusingPlane) Capabilities() model.Capabilities { return ipvs.Capabilities }

func (p *refusingPlane) Prepare(context.Context, *model.Config) (dataplane.Txn, error) {
	return refusingTxn{p}, nil
}

func (p *refusingPlane) Close(context.Context) error { return nil }

type refusingTxn struct{ p *refusingPlane }

func (x refusingTxn) Commit() error {
	var names []string
	for _, s := range x.p.t.Services() {
		if s.SchedulerName() == model.SchedTWOS {
			return errors.New("add service " + s.Key().String() + ": the kernel has no twos scheduler (module ip_vs_twos)")
		}
		names = append(names, s.Config().Name)
	}
	x.p.mu.Lock()
	x.p.installed = names
	x.p.mu.Unlock()
	return nil
}

func (refusingTxn) Abort() {}

const refusalCfg = `serial_no = %s
primary = 192.0.2.1
service = lvs

virtual web {
    active = 1
    address = 192.0.2.100 eth0
    port = 80
    scheduler = rr
    server a {
        address = 198.51.100.1
        active = 1
    }
}
`

// A reload the data plane refuses leaves the table, and so govs list, and
// the plane exactly as they were, and says what the plane lacks.
func TestRefusedReloadIsAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "lvs.cf")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(strings.Replace(refusalCfg, "%s", "1", 1))
	var plane *refusingPlane
	r, err := New(context.Background(), Options{ConfigPath: path, NewScheduler: scheduler.New,
		NewPlane: func(_ string, tb *table.Table, _ *slog.Logger) (dataplane.Plane, error) {
			plane = &refusingPlane{t: tb}
			return plane, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	before := r.Snapshot()
	write(strings.Replace(refusalCfg, "%s", "2", 1) + `
virtual extra {
    active = 1
    address = 192.0.2.101 eth0
    port = 80
    scheduler = twos
    server b {
        address = 198.51.100.2
        active = 1
    }
}
`)
	err = r.Reload(context.Background())
	if err == nil || !strings.Contains(err.Error(), "no twos scheduler (module ip_vs_twos)") {
		t.Fatalf("reload: %v, want the plane's refusal naming the module", err)
	}
	after := r.Snapshot()
	if len(after.Services) != len(before.Services) || after.Services[0].Name != "web" {
		t.Fatalf("the refused service stayed in the table: %+v", after.Services)
	}
	plane.mu.Lock()
	installed := strings.Join(plane.installed, ",")
	plane.mu.Unlock()
	if installed != "web" {
		t.Errorf("the plane holds %q after the refusal, want the running web only", installed)
	}
	if st := r.Status(); st.SerialNo != 1 || st.ReloadErrors != 1 {
		t.Errorf("status after the refusal: serial %d, %d reload errors", st.SerialNo, st.ReloadErrors)
	}
}

// A FIFO put where lvs.cf was is refused at once, with the reason, and the
// running configuration stays; a reload does not block (nor, with it,
// everything that waits on the reload lock, such as govs status).
func TestReloadRefusesFIFO(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no named pipes")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "lvs.cf")
	if err := os.WriteFile(path, []byte(strings.Replace(refusalCfg, "%s", "1", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := New(context.Background(), Options{ConfigPath: path, NewScheduler: scheduler.New,
		NewPlane: func(_ string, tb *table.Table, _ *slog.Logger) (dataplane.Plane, error) {
			return &refusingPlane{t: tb}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := mkfifo(path); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Reload(context.Background()) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "named pipe") {
			t.Errorf("reload over a FIFO: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("reload blocked on the FIFO")
	}
	if st := r.Status(); st.SerialNo != 1 || len(r.Snapshot().Services) != 1 {
		t.Errorf("the running configuration changed: serial %d", st.SerialNo)
	}
}

// pausingPlane refuses like refusingPlane, but each Commit first waits on
// resume, so that a test can look at the disk while the plane decides.
type pausingPlane struct {
	refusingPlane
	paused, resume chan struct{}
}

func (p *pausingPlane) Prepare(context.Context, *model.Config) (dataplane.Txn, error) {
	return pausingTxn{p}, nil
}

type pausingTxn struct{ p *pausingPlane }

func (x pausingTxn) Commit() error {
	x.p.paused <- struct{}{}
	<-x.p.resume
	return refusingTxn{&x.p.refusingPlane}.Commit()
}

func (pausingTxn) Abort() {}

// An edit is written only once the plane took it: while the plane decides
// on a change it will refuse, the file on disk is still the running one
// (a crash then leaves a file govs starts on), and after the refusal it is
// unchanged and nothing went into the history. An edit the plane takes is
// written, the replaced file kept in the history under its serial, and a
// temporary left by a crash is removed at start.
func TestApplyWritesOnlyWhatRan(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "lvs.cf")
	orig := []byte(strings.Replace(refusalCfg, "%s", "1", 1))
	if err := os.WriteFile(path, orig, 0o600); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(dir, ".lvs.cf.tmp-123")
	if err := os.WriteFile(stale, []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	plane := &pausingPlane{paused: make(chan struct{}), resume: make(chan struct{})}
	go func() {
		for range plane.paused {
			plane.resume <- struct{}{}
		}
	}()
	r, err := New(context.Background(), Options{ConfigPath: path, NewScheduler: scheduler.New,
		NewPlane: func(_ string, tb *table.Table, _ *slog.Logger) (dataplane.Plane, error) {
			plane.t = tb
			return plane, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); err == nil {
		t.Error("a stale temporary file stayed beside lvs.cf")
	}
	// From here the test resumes each Commit itself.
	close(plane.paused)
	plane.paused = make(chan struct{})
	twos := func(c *model.Config) error {
		s := c.Services[0]
		s.Name, s.Port, s.Scheduler = "extra", 81, model.SchedTWOS
		c.Services = append(c.Services, s)
		return nil
	}
	done := make(chan error, 1)
	go func() { _, err := r.Apply(context.Background(), twos); done <- err }()
	<-plane.paused
	if b, _ := os.ReadFile(path); !bytes.Equal(b, orig) {
		t.Errorf("the refused change was on disk while the plane decided:\n%s", b)
	}
	plane.resume <- struct{}{}
	// The router puts the plane back to the running configuration.
	<-plane.paused
	plane.resume <- struct{}{}
	if err := <-done; err == nil || !strings.Contains(err.Error(), "ip_vs_twos") {
		t.Fatalf("apply: %v, want the plane's refusal", err)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, orig) {
		t.Errorf("the file changed after a refused edit:\n%s", b)
	}
	if h := r.History(); len(h) != 1 || h[0].Action != "start" {
		t.Errorf("a refused edit went into the history: %+v", h)
	}

	// A change the plane takes is written, the old file kept.
	rr := func(c *model.Config) error { c.Services[0].Scheduler = model.SchedWRR; return nil }
	go func() { _, err := r.Apply(context.Background(), rr); done <- err }()
	<-plane.paused
	plane.resume <- struct{}{}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); !strings.Contains(string(b), "scheduler = wrr") || !strings.Contains(string(b), "serial_no = 2") {
		t.Errorf("the applied change is not on disk:\n%s", b)
	}
	if kept, err := os.ReadFile(filepath.Join(config.HistoryDir(path), "lvs.cf.1")); err != nil || !bytes.Equal(kept, orig) {
		t.Errorf("the history does not keep the file it started on: %v", err)
	}
	h := r.History()
	if len(h) != 2 || h[1].N != 2 || h[1].Serial != 2 || h[1].Author != "cli" || h[1].Action != "edit" ||
		h[1].Added != 2 || h[1].Removed != 2 {
		t.Errorf("history after one edit: %+v", h)
	}
}
