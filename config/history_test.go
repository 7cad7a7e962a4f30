package config

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The history keeps the newest HistoryKeep revisions, numbers them on
// past the ones it dropped, and records no revision for an unchanged file.
func TestHistoryKeepsNewest(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lvs.cf")
	h := NewHistory(path, 20)
	now := time.Unix(1e9, 0)
	for i := range 25 {
		for range 2 {
			if _, err := h.Record([]byte(fmt.Sprintln(i)), i, "cli", "edit", now); err != nil {
				t.Fatal(err)
			}
		}
	}
	revs := h.List()
	if len(revs) != 20 || revs[0].N != 6 || revs[19].N != 25 {
		t.Fatalf("revisions kept: %+v", revs)
	}
	if b, _ := h.Read(25); string(b) != "24\n" {
		t.Errorf("the newest holds %q", b)
	}
	if _, err := h.Read(5); !errors.Is(err, ErrNoRevision) {
		t.Errorf("revision 5: %v, want it dropped", err)
	}
	rev, text, diff, err := h.Diff(25)
	if string(text) != "24\n" {
		t.Errorf("revision 25's text: %q", text)
	}
	if err != nil || rev.Added != 1 || rev.Removed != 1 || !strings.Contains(diff, "-23\n+24\n") {
		t.Errorf("revision 25: %+v %v\n%s", rev, err, diff)
	}
	// Numbering goes on from the newest, after a restart too.
	if rev, _ := NewHistory(path, 20).Record([]byte("x\n"), 0, "file", "start", now); rev.N != 26 {
		t.Errorf("after a restart the next revision is %d", rev.N)
	}
}
