package router

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/govs/govs/config"
	"github.com/govs/govs/model"
)

// ErrInvalid marks an Apply refused because the edited configuration does
// not validate; the error also wraps the config.ErrorList, so callers can
// tell the operator what to fix without touching the file.
var ErrInvalid = errors.New("invalid configuration")

// applyMu serialises edits so that two editors cannot both start from the
// same serial_no; Reload's own lock still orders them against signals.
var applyMu sync.Mutex

// Apply changes the configuration the way an administrator editing lvs.cf
// and reloading would: edit gets a private copy of the running
// configuration, the result is validated and, as canonical lvs.cf with
// serial_no incremented, applied to the table and the data plane; only
// once they took it is it written (atomically, mode 0600), with the
// previous file kept in the history (HistoryDir). A change the plane
// refuses never reaches the disk, so a crash at any moment leaves a file
// that describes a configuration that ran. It returns the applied
// configuration.
func (r *Router) Apply(ctx context.Context, edit func(*model.Config) error) (*model.Config, error) {
	applyMu.Lock()
	defer applyMu.Unlock()
	cur := r.cfg.Load()
	next := CloneConfig(cur)
	if err := edit(next); err != nil {
		return nil, err
	}
	if err := config.Validate(next); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	// The running serial, not the file's, is what the edit was based on.
	next.Global.SerialNo = cur.Global.SerialNo + 1
	var buf bytes.Buffer
	if err := config.Write(&buf, next); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	path := r.o.ConfigPath
	src := buf.Bytes()
	// Exactly what a reload of the written file would apply.
	cfg, err := parse(path, src, r.plane.Name(), r.log)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	prev, err := config.ReadFile(path)
	if err != nil {
		return nil, err
	}
	err = r.recordReload(func() error {
		if err := r.apply(ctx, cfg); err != nil {
			return err
		}
		if err := keepHistory(path, cur.Global.SerialNo, prev, r.o.HistoryKeep); err != nil {
			r.log.Warn("keeping the previous configuration in the history", "error", err.Error())
		}
		if err := WriteFileAtomic(path, src); err != nil {
			// The file still says what ran before: run that again.
			if rerr := r.apply(ctx, cur); rerr != nil {
				return fmt.Errorf("writing %s: %w (and going back failed: %v)", path, err, rerr)
			}
			return fmt.Errorf("writing %s: %w", path, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return r.cfg.Load(), nil
}

// DefaultHistoryKeep is how many previous configurations the history
// keeps.
const DefaultHistoryKeep = 20

// HistoryDir is where Apply keeps the configurations it replaced: beside
// the file, lvs.cf.history/lvs.cf.SERIAL for lvs.cf.
func HistoryDir(path string) string { return path + ".history" }

// keepHistory saves src, the file that ran as serial, in the history and
// drops all but the newest keep.
func keepHistory(path string, serial int, src []byte, keep int) error {
	if keep <= 0 {
		keep = DefaultHistoryKeep
	}
	dir := HistoryDir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	base := filepath.Base(path)
	if err := WriteFileAtomic(filepath.Join(dir, fmt.Sprintf("%s.%d", base, serial)), src); err != nil {
		return err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var serials []int
	for _, e := range ents {
		if n, err := strconv.Atoi(strings.TrimPrefix(e.Name(), base+".")); err == nil && strings.HasPrefix(e.Name(), base+".") {
			serials = append(serials, n)
		}
	}
	slices.Sort(serials)
	for _, n := range serials[:max(0, len(serials)-keep)] {
		_ = os.Remove(filepath.Join(dir, fmt.Sprintf("%s.%d", base, n)))
	}
	return nil
}

// removeStaleTemps removes what WriteFileAtomic leaves behind when the
// process dies between creating its temporary file and renaming it.
func removeStaleTemps(path string) {
	tmps, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*"))
	for _, f := range tmps {
		_ = os.Remove(f)
	}
}

// WriteFileAtomic replaces path with data so that a reader sees either the
// old file or the new one, never a part: a temporary file in the same
// directory is written, synced and renamed over path, and the directory
// synced so the rename survives a crash. The file gets mode 0600, as it may
// hold addresses and commands an operator keeps private.
func WriteFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op after the rename
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// CloneConfig deep-copies c, so that an edit never shows through to the
// configuration the table and the health monitors are using.
func CloneConfig(c *model.Config) *model.Config {
	out := &model.Config{Global: c.Global, Services: slices.Clone(c.Services)}
	out.Global.VRRPUnicastPeers = slices.Clone(c.Global.VRRPUnicastPeers)
	for i := range out.Services {
		s := &out.Services[i]
		s.MarkPorts = slices.Clone(s.MarkPorts)
		s.RealServers = slices.Clone(s.RealServers)
		s.Check.Extra = maps.Clone(s.Check.Extra)
	}
	return out
}
