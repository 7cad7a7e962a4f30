package cli

import (
	"context"
	"log/slog"

	"github.com/govs/govs/router"
	"github.com/govs/govs/web"
)

// startWeb serves the web tool, REST API and metrics when lvs.cf sets
// http_listen. The address, certificate and users file are read at start:
// changing them takes a restart, as the listener cannot move under open
// sessions. The returned stop waits for the server to finish.
func startWeb(ctx context.Context, log *slog.Logger, r *router.Router, cfgPath string) (stop func(), err error) {
	g := r.Config().Global
	if g.HTTPListen == "" {
		return func() {}, nil
	}
	cert, key := resolvePath(cfgPath, g.HTTPTLSCert), resolvePath(cfgPath, g.HTTPTLSKey)
	s := web.New(web.Options{Router: r, UsersFile: resolvePath(cfgPath, g.HTTPUsers), Logger: log, TLS: cert != ""})
	ln, err := web.Listen(g.HTTPListen, cert, key)
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := web.Serve(wctx, ln, s); err != nil {
			log.Error("web tool stopped", "error", err)
		}
	}()
	scheme := "http"
	if cert != "" {
		scheme = "https"
	}
	log.Info("web tool ready", "url", scheme+"://"+ln.Addr().String()+"/")
	return func() { cancel(); <-done }, nil
}
