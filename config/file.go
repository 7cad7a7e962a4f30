package config

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// MaxFileSize bounds an lvs.cf file. Piranha's files are kilobytes; a
// configuration of 100,000 services is about 30 MB.
const MaxFileSize = 64 << 20

// ReadFile reads an lvs.cf file. Anything but a regular file of at most
// MaxFileSize is refused with a clear error, before a byte is read: a FIFO
// in its place would otherwise block every reload (and everything waiting
// on the reload) for good, and a huge file cost its size in memory to
// refuse. The open does not block on a FIFO. A file that cannot be opened
// gives the *fs.PathError as is, so callers can test for fs.ErrNotExist.
func ReadFile(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %s, not a regular file: the configuration must be one", path, fileKind(fi.Mode()))
	}
	if fi.Size() > MaxFileSize {
		return nil, fmt.Errorf("%s: %d bytes, over the %d MiB a configuration may have", path, fi.Size(), MaxFileSize>>20)
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(b) > MaxFileSize {
		return nil, fmt.Errorf("%s: over the %d MiB a configuration may have", path, MaxFileSize>>20)
	}
	return b, nil
}

func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "not a plain file (" + m.Type().String() + ")"
}

// RemoveStaleTemps removes what WriteFileAtomic leaves behind when the
// process dies between creating its temporary file and renaming it.
func RemoveStaleTemps(path string) {
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
