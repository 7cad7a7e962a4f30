package health

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"regexp"
	"syscall"
	"time"
)

// DialFunc opens a connection for a check, as net.Dialer.DialContext does.
type DialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// prober runs one check, which must end by deadline (the interval after
// its start). ctx only cancels: a reload or shutdown. A nil error means the
// server passed.
type prober interface {
	check(ctx context.Context, deadline time.Time) error
}

// probeEnv is what probes need from the Manager.
type probeEnv struct {
	dial    DialFunc // nil: fastDial
	rootCAs *x509.CertPool
}

// dialer returns the DialFunc for code that takes one (HTTP).
func (e probeEnv) dialer() DialFunc {
	if e.dial != nil {
		return e.dial
	}
	return fastDial
}

// connect opens a check's connection, bounded by deadline, which stays set
// on the returned connection; cancelling ctx interrupts it. The caller
// must call stop once done with the connection. TCP without a custom Dial
// takes the lean path that costs no context of its own, since it runs ten
// thousand times a second on a large router.
func (e probeEnv) connect(ctx context.Context, network string, ap netip.AddrPort, deadline time.Time) (net.Conn, func() bool, error) {
	if e.dial == nil && haveFastDial && network == "tcp" {
		c, err := startTCP(ap)
		if err != nil {
			return nil, nil, err
		}
		_ = c.SetDeadline(deadline)
		stop := context.AfterFunc(ctx, c.abort)
		if err := c.waitConnected(ctx); err != nil {
			stop()
			return nil, nil, err
		}
		return c, stop, nil
	}
	dial := e.dial
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	dctx, cancel := context.WithDeadline(ctx, deadline)
	c, err := dial(dctx, network, ap.String())
	cancel()
	if err != nil {
		return nil, nil, err
	}
	_ = c.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
	return c, stop, nil
}

// newProber compiles a probe for one target. Configuration that cannot work
// yields a prober that always fails with the reason, so the problem shows
// in the real server's state instead of being silently unmonitored.
func newProber(p *probeSpec, addr netip.Addr, port uint16, env probeEnv) prober {
	target := netip.AddrPortFrom(addr, port)
	switch p.kind {
	case kindTCP, kindUDP:
		sp := &streamProbe{env: env, spec: p, target: target, udp: p.kind == kindUDP}
		if p.regex && p.expect != "" {
			re, err := compileERE(p.expect)
			if err != nil {
				return failProbe{fmt.Errorf("invalid expect regex: %v", err)}
			}
			sp.re = re
		}
		return sp
	case kindProgram:
		args := programArgs(p.program, addr, port)
		if len(args) == 0 {
			return failProbe{errors.New("check_type = program needs send_program")}
		}
		return &programProbe{args: args, expect: p.expect, timeout: p.interval}
	case kindHTTP, kindHTTPS:
		return newHTTPProbe(p, addr, port, env)
	case kindDNS:
		return &dnsProbe{env: env, spec: p, target: target}
	}
	return failProbe{fmt.Errorf("cannot check with %s", p.kind)}
}

// failProbe reports a configuration error on every run.
type failProbe struct{ err error }

func (f failProbe) check(context.Context, time.Time) error { return f.err }

// compileERE compiles nanny's regex: POSIX extended syntax when it parses
// as such, otherwise Go's syntax (which is what config validated).
func compileERE(s string) (*regexp.Regexp, error) {
	if re, err := regexp.CompilePOSIX(s); err == nil {
		return re, nil
	}
	return regexp.Compile(s)
}

// isTimeout reports whether err is a deadline or timeout.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) ||
		(errors.As(err, &ne) && ne.Timeout())
}

// connectError words a dial failure the way an operator reads it.
func connectError(err error, timeout time.Duration) error {
	switch {
	case isTimeout(err):
		return fmt.Errorf("connect timeout after %s", timeout)
	case errors.Is(err, syscall.ECONNREFUSED):
		return errors.New("connect refused")
	case errors.Is(err, syscall.EHOSTUNREACH):
		return errors.New("connect: host unreachable")
	case errors.Is(err, syscall.ENETUNREACH):
		return worded{"connect: network unreachable", err}
	case errors.Is(err, context.Canceled):
		return errors.New("check cancelled")
	}
	return worded{"connect: " + unwrapOp(err).Error(), err}
}

// worded is an error in an operator's words that still unwraps to its
// cause, so that localFailure can tell this host's errors from the
// server's.
type worded struct {
	msg string
	err error
}

func (w worded) Error() string { return w.msg }
func (w worded) Unwrap() error { return w.err }

// unwrapOp drops net.OpError's addresses, which the log line already names.
func unwrapOp(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		var se *os.SyscallError
		if errors.As(oe.Err, &se) {
			return se.Err
		}
		return oe.Err
	}
	return err
}

// closeReset closes a TCP connection with RST instead of FIN: the router
// then keeps no TIME_WAIT socket per check, which at thousands of checks a
// second would fill the kernel's TIME_WAIT table (HAProxy closes its checks
// the same way).
func closeReset(c net.Conn) {
	if l, ok := c.(interface{ SetLinger(int) error }); ok {
		_ = l.SetLinger(0)
	}
	_ = c.Close()
}

// clip shortens a reply for a log line.
func clip(b []byte) []byte {
	if len(b) > 64 {
		return append(b[:64:64], "..."...)
	}
	return b
}
