package health

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"regexp"
	"syscall"
	"time"
)

// streamProbe is nanny's pinger: connect over TCP or UDP, send, read the
// reply and compare it with expect.
type streamProbe struct {
	env    probeEnv
	spec   *probeSpec
	target netip.AddrPort
	udp    bool
	re     *regexp.Regexp
}

func (p *streamProbe) check(ctx context.Context, deadline time.Time) error {
	timeout := p.spec.interval
	network := "tcp"
	if p.udp {
		network = "udp"
	}
	c, stop, err := p.env.connect(ctx, network, p.target, deadline)
	if err != nil {
		return connectError(err, timeout)
	}
	defer closeReset(c)
	defer stop()
	send := p.spec.send
	if send != "" || p.udp {
		// A UDP check must make the server answer: with nothing to send,
		// an empty datagram is what nanny's write of nothing amounted to
		// on the wire once a reply is required.
		if _, err := io.WriteString(c, send); err != nil {
			if p.udp && errors.Is(err, syscall.ECONNREFUSED) {
				return errors.New("port unreachable (ICMP)")
			}
			return fmt.Errorf("send: %v", unwrapOp(err))
		}
	}
	expect := p.spec.expect
	if expect == "" && !p.udp {
		return nil
	}
	readErr := func(err error, got []byte) error {
		switch {
		case isTimeout(err) && len(got) == 0:
			return fmt.Errorf("no reply within %s", timeout)
		case isTimeout(err):
			return fmt.Errorf("reply %q cut short after %s, expected %q", got, timeout, expect)
		case errors.Is(err, syscall.ECONNREFUSED):
			return errors.New("port unreachable (ICMP)")
		case errors.Is(err, io.EOF) && len(got) == 0:
			return errors.New("connection closed without a reply")
		case errors.Is(err, io.EOF):
			return fmt.Errorf("reply %q ended, expected %q", got, expect)
		case errors.Is(err, syscall.ECONNRESET):
			return errors.New("connection reset")
		}
		return fmt.Errorf("read: %v", unwrapOp(err))
	}
	if p.re != nil {
		// nanny: one read of up to 254 bytes, matched as a C string.
		buf := make([]byte, 254)
		n, err := c.Read(buf)
		if n == 0 {
			if err == nil {
				err = io.EOF
			}
			return readErr(err, nil)
		}
		got := buf[:n]
		if i := bytes.IndexByte(got, 0); i >= 0 {
			got = got[:i]
		}
		if !p.re.Match(got) {
			return fmt.Errorf("reply %q does not match /%s/", clip(got), expect)
		}
		return nil
	}
	if p.udp {
		// One datagram is the reply.
		buf := make([]byte, 64<<10)
		n, err := c.Read(buf)
		if err != nil {
			return readErr(err, nil)
		}
		got := buf[:n]
		switch {
		case expect == "", expect == "*" && n > 0:
			return nil
		case bytes.HasPrefix(got, []byte(expect)):
			return nil
		}
		return fmt.Errorf("reply %q does not start with %q", clip(got), expect)
	}
	if expect == "*" {
		// nanny: any single byte.
		var b [1]byte
		if n, err := c.Read(b[:]); n == 0 {
			if err == nil {
				err = io.EOF
			}
			return readErr(err, nil)
		}
		return nil
	}
	// The reply must start with expect: read exactly that many bytes (more
	// may follow; they are not looked at), accepting a reply that arrives
	// in several segments.
	buf := make([]byte, len(expect))
	got := 0
	for got < len(buf) {
		n, err := c.Read(buf[got:])
		got += n
		if !bytes.HasPrefix([]byte(expect), buf[:got]) {
			return fmt.Errorf("reply %q does not start with %q", clip(buf[:got]), expect)
		}
		if err != nil && got < len(buf) {
			return readErr(err, buf[:got])
		}
	}
	return nil
}
