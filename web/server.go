// Package web is govs's configuration and monitoring tool: the modern
// equivalent of Piranha's "Piranha Configuration Tool", served by govs run
// itself when lvs.cf sets http_listen.
//
// It has three faces over one set of operations. Server-rendered pages
// (CONTROL/MONITORING, GLOBAL SETTINGS, REDUNDANCY, VIRTUAL SERVERS with
// their VIRTUAL SERVER, REAL SERVER and MONITORING SCRIPTS sub-pages) for a
// browser session; a JSON REST API under /api/v1 for bearer tokens, described
// by the OpenAPI document at /api/openapi.json; and Prometheus metrics at
// /metrics. Every change goes through router.Apply, the same
// validate-then-apply path as a reload, so the web tool can never leave a
// file on disk that differs from what runs.
package web

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/govs/govs/model"
	"github.com/govs/govs/router"
)

// Options configure a Server.
type Options struct {
	// Router is the running router the tool shows and changes.
	Router *router.Router
	// UsersFile is the file govs passwd writes (http_users).
	UsersFile string
	// Logger receives the server's log; discarded if nil.
	Logger *slog.Logger
	// TLS marks the session cookie Secure; set when serving HTTPS.
	TLS bool
	// SampleInterval is the chart's sampling period; 2 s if zero.
	SampleInterval time.Duration
	// Now tells the time; time.Now if nil. Tests move it to expire limits.
	Now func() time.Time
}

// Server is the web tool's HTTP handler.
type Server struct {
	o        Options
	r        *router.Router
	log      *slog.Logger
	users    userStore
	sessions sessions
	limit    limiter
	history  *history
	metrics  *metrics
	mux      *http.ServeMux
}

// New builds the web tool for a router. Call Run to sample rates for the
// chart.
func New(o Options) *Server {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.SampleInterval == 0 {
		o.SampleInterval = 2 * time.Second
	}
	s := &Server{o: o, r: o.Router, log: o.Logger, users: userStore{path: o.UsersFile},
		history: newHistory(300)}
	s.metrics = newMetrics(s)
	s.mux = http.NewServeMux()
	s.routes()
	return s
}

func (s *Server) now() time.Time {
	if s.o.Now != nil {
		return s.o.Now()
	}
	return time.Now()
}

// ServeHTTP serves the tool, with headers that keep its pages out of frames
// and caches.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	style := "'self'"
	if r.URL.Path == "/" {
		// The monitoring page's charts (dygraphs) position their legend
		// and labels with style attributes; scripts stay 'self' only.
		style += " 'unsafe-inline'"
	}
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src "+style+"; script-src 'self'; frame-ancestors 'none'")
	h.Set("Cache-Control", "no-store")
	if strings.HasPrefix(r.URL.Path, "/static/") {
		// The chart library is 130 KB: a browser may keep the assets
		// for a minute (they change only with the binary).
		h.Set("Cache-Control", "private, max-age=60")
	}
	s.mux.ServeHTTP(w, r)
}

// Run samples the table for the rate chart until ctx is done.
func (s *Server) Run(ctx context.Context) {
	t := time.NewTicker(s.o.SampleInterval)
	defer t.Stop()
	s.sample()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.sample()
		}
	}
}

func (s *Server) sample() {
	snap := s.r.Snapshot()
	var p point
	p.T = s.now().UnixMilli()
	for _, svc := range snap.Services {
		p.CPS += float64(svc.Rates.CPS)
		p.InBPS += float64(svc.Rates.InBPS)
		p.OutBPS += float64(svc.Rates.OutBPS)
		for _, d := range svc.Dests {
			p.Active += d.ActiveConns
			p.Inactive += d.InactiveConns
		}
	}
	s.history.add(p)
}

// Listen opens the web tool's listener on addr, wrapped in TLS when
// certFile and keyFile are set, so that a bad address or certificate is an
// error at start rather than in a goroutine.
func Listen(addr, certFile, keyFile string) (net.Listener, error) {
	var cfg *tls.Config
	if certFile != "" || keyFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, err
		}
		cfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if cfg != nil {
		ln = tls.NewListener(ln, cfg)
	}
	return ln, nil
}

// Serve serves the tool on ln, and samples rates for its chart, until ctx
// is done.
func Serve(ctx context.Context, ln net.Listener, s *Server) error {
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
		WriteTimeout: time.Minute, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go s.Run(sctx)
	go func() {
		<-sctx.Done()
		shut, c := context.WithTimeout(context.Background(), time.Second)
		defer c()
		_ = srv.Shutdown(shut)
	}()
	err := srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// config returns the running configuration.
func (s *Server) config() *model.Config { return s.r.Config() }
