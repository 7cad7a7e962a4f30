package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// lvs.cf must be a regular file within MaxFileSize: a FIFO is refused at
// once instead of blocking the reader for good, a directory and an
// oversized (sparse) file are refused without being read, and a plain file
// reads.
func TestReadFileRefuses(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "lvs.cf")
	if err := os.WriteFile(plain, []byte("serial_no = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := ReadFile(plain); err != nil || string(b) != "serial_no = 1\n" {
		t.Fatalf("plain file: %q %v", b, err)
	}
	big := filepath.Join(dir, "big.cf")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(MaxFileSize + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	cases := map[string]string{dir: "a directory", big: "over the 64 MiB"}
	if fifo := makeFIFO(t, dir); fifo != "" {
		cases[fifo] = "a named pipe (FIFO), not a regular file"
	}
	for path, want := range cases {
		done := make(chan error, 1)
		go func() { _, err := ReadFile(path); done <- err }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), path+": ") {
				t.Errorf("%s: %v, want %q", filepath.Base(path), err, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: ReadFile blocked", filepath.Base(path))
		}
	}
	if _, err := ReadFile(filepath.Join(dir, "missing")); !os.IsNotExist(err) {
		t.Errorf("missing file: %v, want not-exist", err)
	}
}
