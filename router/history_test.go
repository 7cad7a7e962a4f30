package router

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/govs/govs/config"
	"github.com/govs/govs/dataplane"
	"github.com/govs/govs/internal/planetest"
	"github.com/govs/govs/model"
	"github.com/govs/govs/scheduler"
	"github.com/govs/govs/table"
)

const commentedCfg = `# shop routers
serial_no = 7
primary = 192.0.2.1
service = lvs

# the web farm
virtual web {
	active = 1
	address = 192.0.2.100 eth0
	port = http
	scheduler = wlc
	# the old box
	server a {
		address = 198.51.100.1
		active = 1
		weight = 5
	}
}
`

func nullRouter(t *testing.T, src string) (*Router, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "lvs.cf")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := New(context.Background(), Options{ConfigPath: path, NewScheduler: scheduler.New,
		NewPlane: func(string, *table.Table, *slog.Logger) (dataplane.Plane, error) { return planetest.Null{}, nil }})
	if err != nil {
		t.Fatal(err)
	}
	return r, path
}

// An edit changes the lines it must in the operator's file, and the
// history records who made it; a rollback brings the old text back as a
// new revision, through the same checks.
func TestApplyKeepsTheFileAndRollsBack(t *testing.T) {
	r, path := nullRouter(t, commentedCfg)
	ctx := WithAuthor(context.Background(), "web alice")
	if _, err := r.Apply(ctx, func(c *model.Config) error {
		c.Services[0].RealServers[0].Weight = 9
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	want := strings.NewReplacer("serial_no = 7", "serial_no = 8", "weight = 5", "weight = 9").Replace(commentedCfg)
	if string(b) != want {
		t.Fatalf("after the edit:\n%s\nwant:\n%s", b, want)
	}
	h := r.History()
	if len(h) != 2 || h[1].Author != "web alice" || h[1].Serial != 8 || h[1].Added != 2 || h[1].Removed != 2 {
		t.Fatalf("history: %+v", h)
	}
	rev, text, diff, err := r.Revision(2)
	if err != nil || rev.N != 2 || string(text) != want ||
		!strings.Contains(diff, "-\t\tweight = 5\n+\t\tweight = 9\n") || !strings.Contains(diff, "--- lvs.cf.1\n+++ lvs.cf.2\n") {
		t.Fatalf("revision 2: %+v %v\n%s", rev, err, diff)
	}

	if _, err := r.Rollback(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(path)
	if want := strings.Replace(commentedCfg, "serial_no = 7", "serial_no = 9", 1); string(b) != want {
		t.Fatalf("after the rollback:\n%s", b)
	}
	if w := r.Config().Services[0].RealServers[0].Weight; w != 5 || r.Config().Global.SerialNo != 9 {
		t.Fatalf("running after the rollback: weight %d, serial %d", w, r.Config().Global.SerialNo)
	}
	if h := r.History(); len(h) != 3 || h[2].Action != "rollback to 1" || h[2].Author != "cli" {
		t.Fatalf("history after the rollback: %+v", h)
	}
	if _, err := r.Rollback(context.Background(), 42); !errors.Is(err, config.ErrNoRevision) {
		t.Fatalf("rollback to a revision not held: %v", err)
	}
}

// A revision that does not pass today's checks is refused like any bad
// edit, and changes nothing.
func TestRollbackValidates(t *testing.T) {
	r, path := nullRouter(t, commentedCfg)
	bad := strings.Replace(commentedCfg, "scheduler = wlc", "scheduler = nope", 1)
	if err := os.WriteFile(filepath.Join(config.HistoryDir(path), "lvs.cf.1"), []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := r.Rollback(context.Background(), 1)
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("rollback to a bad revision: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != commentedCfg {
		t.Fatalf("the file changed:\n%s", b)
	}
}

// A file changed by hand and reloaded is a revision of its own, by
// "file"; reloading it unchanged records nothing.
func TestReloadRecordsHandEdits(t *testing.T) {
	r, path := nullRouter(t, commentedCfg)
	edited := strings.Replace(commentedCfg, "weight = 5", "weight = 6", 1)
	if err := os.WriteFile(path, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := r.Reload(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if h := r.History(); len(h) != 2 || h[1].Author != "file" || h[1].Action != "reload" {
		t.Fatalf("history: %+v", h)
	}
}
