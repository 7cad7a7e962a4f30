package health

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/net/dns/dnsmessage"
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

// clip shortens a reply for a log line.
func clip(b []byte) []byte {
	if len(b) > 64 {
		return append(b[:64:64], "..."...)
	}
	return b
}

// programArgs splits send_program as nanny did (strtok on spaces, at most
// 40 arguments), replacing tokens that are exactly %h or %p.
func programArgs(line string, addr netip.Addr, port uint16) []string {
	var args []string
	for _, tok := range strings.Split(line, " ") {
		switch tok {
		case "":
			continue
		case "%h":
			tok = addr.String()
		case "%p":
			tok = strconv.Itoa(int(port))
		}
		args = append(args, tok)
		if len(args) == 40 {
			break
		}
	}
	return args
}

// programProbe runs send_program without a shell.
type programProbe struct {
	args    []string
	expect  string
	timeout time.Duration
}

// limitedBuffer keeps the first max bytes written and swallows the rest,
// so a chatty program cannot grow the router's memory or block on a full
// pipe.
type limitedBuffer struct {
	buf []byte
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - len(l.buf); room > 0 {
		l.buf = append(l.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (p *programProbe) check(ctx context.Context, deadline time.Time) error {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, p.args[0], p.args[1:]...)
	out := &limitedBuffer{max: 4095}
	cmd.Stdout = out // stdin and stderr stay /dev/null, as nanny had them
	cleanup := setKillGroup(cmd)
	// The verdict is the program's exit: children it left holding stdout
	// are not waited for beyond this.
	cmd.WaitDelay = 100 * time.Millisecond
	err := cmd.Run()
	cleanup()
	ps := cmd.ProcessState
	if ctx.Err() != nil && (ps == nil || !ps.Exited()) {
		if errors.Is(ctx.Err(), context.Canceled) {
			return errors.New("check cancelled")
		}
		return fmt.Errorf("program timed out after %s", p.timeout)
	}
	if ps == nil {
		return fmt.Errorf("program: %v", err)
	}
	if !ps.Exited() {
		if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return fmt.Errorf("program killed by signal %s", ws.Signal())
		}
		return fmt.Errorf("program: %v", err)
	}
	if code := ps.ExitCode(); code != 0 {
		return fmt.Errorf("program exited with status %d", code)
	}
	if p.expect == "" {
		return nil
	}
	got := strings.TrimSuffix(string(out.buf), "\n")
	if got != p.expect {
		return fmt.Errorf("program printed %q, expected %q", clip([]byte(got)), p.expect)
	}
	return nil
}

// httpProbe is an HTTP or HTTPS GET with its own transport, so a slow or
// broken server only ever holds its own connections.
type httpProbe struct {
	client *http.Client
	url    string
	host   string
	status []statusRange
	body   *regexp.Regexp
	spec   *probeSpec
}

func newHTTPProbe(p *probeSpec, addr netip.Addr, port uint16, env probeEnv) prober {
	status, err := parseStatus(p.status)
	if err != nil {
		return failProbe{err}
	}
	hp := &httpProbe{status: status, spec: p, host: p.host}
	if p.body != "" {
		re, err := regexp.Compile(p.body)
		if err != nil {
			return failProbe{fmt.Errorf("invalid check_body: %v", err)}
		}
		hp.body = re
	}
	scheme := "http"
	if p.kind == kindHTTPS {
		scheme = "https"
	}
	hp.url = scheme + "://" + netip.AddrPortFrom(addr, port).String() + p.path
	sni := p.sni
	if sni == "" && p.host != "" {
		sni = p.host
		if h, _, err := net.SplitHostPort(p.host); err == nil {
			sni = h
		}
	}
	dial := env.dialer()
	tr := &http.Transport{
		Proxy: nil, // a health check goes to the server, never to a proxy
		DialContext: func(ctx context.Context, network, address string) (net.Conn, error) {
			c, err := dial(ctx, network, address)
			if l, ok := c.(interface{ SetLinger(int) error }); ok && err == nil {
				_ = l.SetLinger(0)
			}
			return c, err
		},
		DisableKeepAlives:      true,
		DisableCompression:     true,
		MaxResponseHeaderBytes: 64 << 10,
		TLSClientConfig: &tls.Config{
			InsecureSkipVerify: !p.tlsVerify,
			ServerName:         sni,
			RootCAs:            env.rootCAs,
		},
	}
	hp.client = &http.Client{
		Transport: tr,
		// A redirect is an answer: its status is judged, not followed.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return hp
}

func (p *httpProbe) check(ctx context.Context, deadline time.Time) error {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url, nil)
	if err != nil {
		return err
	}
	if p.host != "" {
		req.Host = p.host
	}
	req.Header.Set("User-Agent", "govs-health-check")
	resp, err := p.client.Do(req)
	if err != nil {
		return p.requestError(err)
	}
	defer resp.Body.Close()
	ok := false
	for _, r := range p.status {
		if resp.StatusCode >= r.lo && resp.StatusCode <= r.hi {
			ok = true
			break
		}
	}
	if !ok {
		return fmt.Errorf("HTTP status %d, expected %s", resp.StatusCode, p.spec.status)
	}
	if p.body != nil {
		b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
		if err != nil && !p.body.Match(b) {
			if isTimeout(err) {
				return fmt.Errorf("body cut short after %s", p.spec.interval)
			}
			return fmt.Errorf("reading body: %v", unwrapOp(err))
		}
		if !p.body.Match(b) {
			return fmt.Errorf("body does not match /%s/", p.spec.body)
		}
	}
	return nil
}

func (p *httpProbe) requestError(err error) error {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		err = ue.Unwrap() // drop url.Error's "Get URL:" prefix
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		return connectError(err, p.spec.interval)
	}
	var cv *tls.CertificateVerificationError
	if errors.As(err, &cv) {
		return fmt.Errorf("TLS certificate not trusted: %v", cv.Err)
	}
	if isTimeout(err) {
		return fmt.Errorf("no HTTP response within %s", p.spec.interval)
	}
	return fmt.Errorf("HTTP: %v", unwrapOp(err))
}

// dnsProbe sends one query over UDP and judges the reply's rcode.
type dnsProbe struct {
	env    probeEnv
	spec   *probeSpec
	target netip.AddrPort
}

func (p *dnsProbe) query(id uint16) ([]byte, error) {
	name, err := dnsmessage.NewName(p.spec.dnsName)
	if err != nil {
		return nil, fmt.Errorf("dns_name %q: %v", p.spec.dnsName, err)
	}
	b := dnsmessage.NewBuilder(make([]byte, 0, 512), dnsmessage.Header{ID: id, RecursionDesired: true})
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(dnsmessage.Question{Name: name, Type: p.spec.dnsType, Class: dnsmessage.ClassINET}); err != nil {
		return nil, err
	}
	// EDNS(0), so that extended rcodes can be expected and large answers
	// are not truncated for nothing.
	if err := b.StartAdditionals(); err != nil {
		return nil, err
	}
	var rh dnsmessage.ResourceHeader
	if err := rh.SetEDNS0(1232, dnsmessage.RCodeSuccess, false); err != nil {
		return nil, err
	}
	if err := b.OPTResource(rh, dnsmessage.OPTResource{}); err != nil {
		return nil, err
	}
	return b.Finish()
}

func (p *dnsProbe) check(ctx context.Context, deadline time.Time) error {
	timeout := p.spec.interval
	id := uint16(rand.Uint32())
	q, err := p.query(id)
	if err != nil {
		return err
	}
	c, stop, err := p.env.connect(ctx, "udp", p.target, deadline)
	if err != nil {
		return connectError(err, timeout)
	}
	defer c.Close()
	defer stop()
	if _, err := c.Write(q); err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return errors.New("port unreachable (ICMP)")
		}
		return fmt.Errorf("send: %v", unwrapOp(err))
	}
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		if err != nil {
			switch {
			case isTimeout(err):
				return fmt.Errorf("no DNS reply within %s", timeout)
			case errors.Is(err, syscall.ECONNREFUSED):
				return errors.New("port unreachable (ICMP)")
			}
			return fmt.Errorf("read: %v", unwrapOp(err))
		}
		var msg dnsmessage.Parser
		h, err := msg.Start(buf[:n])
		if err != nil || h.ID != id || !h.Response {
			continue // stray or late datagram: keep waiting for ours
		}
		rcode := int(h.RCode)
		// An OPT record carries the high bits of an extended rcode.
		if err := msg.SkipAllQuestions(); err == nil {
			if err := msg.SkipAllAnswers(); err == nil {
				if err := msg.SkipAllAuthorities(); err == nil {
					for {
						rh, err := msg.AdditionalHeader()
						if err != nil {
							break
						}
						if rh.Type == dnsmessage.TypeOPT {
							rcode = int(rh.ExtendedRCode(h.RCode))
						}
						if err := msg.SkipAdditional(); err != nil {
							break
						}
					}
				}
			}
		}
		if rcode != p.spec.dnsRcode {
			return fmt.Errorf("DNS rcode %s, expected %s", rcodeName(rcode), rcodeName(p.spec.dnsRcode))
		}
		return nil
	}
}
