package netnstest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/govs/govs/internal/testutil"
)

// Frame is one captured link-layer frame and when it crossed the wire.
type Frame struct {
	Time time.Time
	Data []byte
}

// Capture is tcpdump writing what crosses one interface of a namespace to a
// pcap file. tcpdump rather than a socket of our own, because it is what an
// operator would run, and its file can be read with Wireshark when a test
// fails.
type Capture struct {
	t    testing.TB
	cmd  *exec.Cmd
	file string
	done chan struct{}
	log  testutil.Buffer // tcpdump's messages
}

// Capture starts tcpdump on ifname with a BPF filter and waits until it
// listens. It is stopped when the test ends, if Stop has not been called.
func (n *NS) Capture(ifname, filter string) *Capture {
	n.t.Helper()
	if _, err := exec.LookPath("tcpdump"); err != nil {
		n.t.Fatal("tcpdump is missing: scripts/deps.sh installs it")
	}
	c := &Capture{t: n.t, file: filepath.Join(n.t.TempDir(), "capture.pcap"), done: make(chan struct{})}
	// -U and --immediate-mode write each packet as it comes (without the
	// latter, packets wait in a kernel ring for up to a second and are lost
	// when tcpdump is told to stop); -Z root
	// keeps tcpdump from dropping privileges to a user who cannot write the
	// test's directory.
	c.cmd = n.Command("tcpdump", "-i", ifname, "-n", "-U", "--immediate-mode", "-Z", "root", "-s", "256", "-w", c.file, filter)
	c.cmd.Stdout, c.cmd.Stderr = &c.log, &c.log
	if err := c.cmd.Start(); err != nil {
		n.t.Fatalf("tcpdump: %v", err)
	}
	go func() { _ = c.cmd.Wait(); close(c.done) }()
	n.t.Cleanup(func() { c.stop() })
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if strings.Contains(c.log.String(), "listening on") {
			return c
		}
		select {
		case <-c.done:
			n.t.Fatalf("tcpdump exited: %s", c.log.String())
		default:
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("tcpdump did not start: %s", c.log.String())
		}
	}
}

func (c *Capture) stop() {
	select {
	case <-c.done:
		return
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// Stop ends the capture and returns every frame it saw, in order.
func (c *Capture) Stop() []Frame {
	c.t.Helper()
	select {
	case <-c.done:
		c.t.Errorf("tcpdump had exited before the capture was stopped: %s", c.log.String())
	default:
	}
	c.stop()
	b, err := os.ReadFile(c.file)
	if err != nil {
		c.t.Fatalf("reading the capture: %v", err)
	}
	frames, err := ReadPcap(b)
	if err != nil {
		c.t.Fatalf("reading the capture %s: %v", c.file, err)
	}
	return frames
}

// File is the pcap file's path, to name in a failure message.
func (c *Capture) File() string { return c.file }

// ReadPcap decodes a classic pcap file of Ethernet frames (microsecond or
// nanosecond timestamps, either byte order): the format is a 24-byte
// header and a 16-byte header per record, too small to take a packet
// library for.
func ReadPcap(b []byte) ([]Frame, error) {
	if len(b) < 24 {
		return nil, errors.New("pcap: short file")
	}
	var bo binary.ByteOrder
	nano := false
	switch m := binary.LittleEndian.Uint32(b); m {
	case 0xa1b2c3d4, 0xa1b23c4d:
		bo, nano = binary.LittleEndian, m == 0xa1b23c4d
	case 0xd4c3b2a1, 0x4d3cb2a1:
		bo, nano = binary.BigEndian, m == 0x4d3cb2a1
	default:
		return nil, fmt.Errorf("pcap: bad magic %#x", m)
	}
	if lt := bo.Uint32(b[20:]); lt != 1 {
		return nil, fmt.Errorf("pcap: link type %d, want Ethernet (1)", lt)
	}
	var out []Frame
	for p := b[24:]; len(p) > 0; {
		if len(p) < 16 {
			break // tcpdump stopped mid-record
		}
		sec, frac, n := bo.Uint32(p), bo.Uint32(p[4:]), bo.Uint32(p[8:])
		if int(n) > len(p)-16 {
			break
		}
		ns := int64(frac)
		if !nano {
			ns *= 1000
		}
		out = append(out, Frame{Time: time.Unix(int64(sec), ns), Data: p[16 : 16+n]})
		p = p[16+n:]
	}
	return out, nil
}
