package health

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"time"
)

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
