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
// configuration, the result is validated, written as canonical lvs.cf with
// serial_no incremented (atomically, mode 0600, the previous file kept as
// lvs.cf.bak), and reloaded. A refused reload puts the previous file back,
// so the file on disk always describes what runs. It returns the applied
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
	prev, err := config.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if err := WriteFileAtomic(path+".bak", prev); err != nil {
		return nil, fmt.Errorf("keeping the previous configuration: %w", err)
	}
	if err := WriteFileAtomic(path, buf.Bytes()); err != nil {
		return nil, err
	}
	if err := r.Reload(ctx); err != nil {
		if rerr := WriteFileAtomic(path, prev); rerr != nil {
			return nil, fmt.Errorf("%w (and restoring the previous file failed: %v)", err, rerr)
		}
		return nil, err
	}
	return r.cfg.Load(), nil
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
