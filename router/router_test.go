package router

import (
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

	"github.com/govs/govs/dataplane"
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

func (p *refusingPlane) Name() string { return "ipvs" }

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
