package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aymanbagabas/go-udiff"
)

// DefaultHistoryKeep is how many revisions the history keeps.
const DefaultHistoryKeep = 20

// HistoryDir is where the router keeps the revisions of its
// configuration: beside the file, lvs.cf.history/ for lvs.cf, one file
// lvs.cf.N per revision N and lvs.cf.N.json describing it.
func HistoryDir(path string) string { return path + ".history" }

// ErrNoRevision is returned for a revision the history does not hold.
var ErrNoRevision = errors.New("no such revision")

// Revision describes one configuration the router ran: the text of
// lvs.cf at that point is kept beside it.
type Revision struct {
	// N numbers revisions in the order they ran, from 1; it is not the
	// file's serial_no, which an operator editing by hand may not bump.
	N      int       `json:"revision"`
	Serial int       `json:"serial_no"`
	Time   time.Time `json:"time"`
	// Author is who made the change: "web USER", "api USER", "cli", or
	// "file" for a change made in lvs.cf itself and loaded at start or
	// by a reload.
	Author string `json:"author"`
	// Action is start, reload, edit or "rollback to N".
	Action string `json:"action"`
	// Added and Removed count the lines changed from the revision before.
	Added   int `json:"added"`
	Removed int `json:"removed"`
}

// History is the numbered revisions of one lvs.cf: what ran, who changed
// it and how. Its methods may be called from any goroutine.
type History struct {
	mu   sync.Mutex
	dir  string
	base string
	keep int
}

// NewHistory returns the history of the file at path, keeping the newest
// keep revisions (DefaultHistoryKeep if keep is 0 or less).
func NewHistory(path string, keep int) *History {
	if keep <= 0 {
		keep = DefaultHistoryKeep
	}
	return &History{dir: HistoryDir(path), base: filepath.Base(path), keep: keep}
}

func (h *History) file(n int) string { return filepath.Join(h.dir, fmt.Sprintf("%s.%d", h.base, n)) }

// numbers lists the revisions held, oldest first.
func (h *History) numbers() []int {
	ents, _ := os.ReadDir(h.dir)
	var out []int
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), h.base+".")
		if !ok {
			continue
		}
		if n, err := strconv.Atoi(rest); err == nil && n > 0 {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// Record adds src, the file as it ran with serial_no serial, as a new
// revision by author (see Revision), unless it is the newest one already,
// and drops all but the newest kept. It returns the revision src is.
func (h *History) Record(src []byte, serial int, author, action string, now time.Time) (Revision, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ns := h.numbers()
	var prev []byte
	next := 1
	if len(ns) > 0 {
		last := ns[len(ns)-1]
		next = last + 1
		prev, _ = os.ReadFile(h.file(last))
		if string(prev) == string(src) {
			return h.revisionLocked(last)
		}
	}
	if err := os.MkdirAll(h.dir, 0o700); err != nil {
		return Revision{}, err
	}
	rev := Revision{N: next, Serial: serial, Time: now.UTC(), Author: author, Action: action}
	rev.Added, rev.Removed = lineCounts(string(prev), string(src))
	meta, _ := json.Marshal(rev)
	if err := WriteFileAtomic(h.file(next), src); err != nil {
		return Revision{}, err
	}
	if err := WriteFileAtomic(h.file(next)+".json", meta); err != nil {
		return Revision{}, err
	}
	ns = append(ns, next)
	for _, n := range ns[:max(0, len(ns)-h.keep)] {
		_ = os.Remove(h.file(n))
		_ = os.Remove(h.file(n) + ".json")
	}
	return rev, nil
}

func (h *History) revisionLocked(n int) (Revision, error) {
	if _, err := os.Stat(h.file(n)); err != nil {
		return Revision{}, fmt.Errorf("revision %d: %w", n, ErrNoRevision)
	}
	rev := Revision{N: n}
	// A revision without its description (put there by hand, or kept
	// before descriptions were) is still listed, with what is known.
	if b, err := os.ReadFile(h.file(n) + ".json"); err == nil {
		_ = json.Unmarshal(b, &rev)
	}
	rev.N = n
	return rev, nil
}

// List describes the revisions held, oldest first.
func (h *History) List() []Revision {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := []Revision{}
	for _, n := range h.numbers() {
		if rev, err := h.revisionLocked(n); err == nil {
			out = append(out, rev)
		}
	}
	return out
}

// Read returns a revision's text.
func (h *History) Read(n int) ([]byte, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	b, err := os.ReadFile(h.file(n))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("revision %d: %w", n, ErrNoRevision)
	}
	return b, err
}

// Diff returns revision n, its text, and the unified diff from the
// revision before it (the empty file for the oldest held).
func (h *History) Diff(n int) (Revision, []byte, string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	rev, err := h.revisionLocked(n)
	if err != nil {
		return Revision{}, nil, "", err
	}
	cur, err := os.ReadFile(h.file(n))
	if err != nil {
		return Revision{}, nil, "", err
	}
	var prev []byte
	from := "/dev/null"
	ns := h.numbers()
	if i := slices.Index(ns, n); i > 0 {
		from = filepath.Base(h.file(ns[i-1]))
		prev, _ = os.ReadFile(h.file(ns[i-1]))
	}
	return rev, cur, udiff.Unified(from, filepath.Base(h.file(n)), string(prev), string(cur)), nil
}

// lineCounts counts the lines a diff from a to b adds and removes.
func lineCounts(a, b string) (added, removed int) {
	for _, l := range strings.Split(udiff.Unified("a", "b", a, b), "\n") {
		switch {
		case strings.HasPrefix(l, "+++"), strings.HasPrefix(l, "---"):
		case strings.HasPrefix(l, "+"):
			added++
		case strings.HasPrefix(l, "-"):
			removed++
		}
	}
	return added, removed
}
