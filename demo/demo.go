// Package demo is govs's self-contained demonstration: an lvs.cf with a
// firewall-mark bundle and a weighted service on loopback, and the small
// HTTP real servers it points at, each answering with its name and the
// address it was reached on, so a curl through the VIP shows where the
// router sent it.
package demo

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/govs/govs/model"
)

// Config is the demo's lvs.cf.
//
//go:embed lvs.cf
var Config []byte

// RealServers serves every real server of cfg's active services: for a
// firewall-mark service whose real servers keep the client's port, one
// listener per bundled port.
type RealServers struct {
	servers []*http.Server
	wg      sync.WaitGroup
	// Addrs lists what is served, for the demo's banner.
	Addrs []string
}

// Start listens on every real-server address of cfg.
func Start(cfg *model.Config) (*RealServers, error) {
	rs := &RealServers{}
	seen := map[netip.AddrPort]bool{}
	for _, s := range cfg.Services {
		if !s.Active {
			continue
		}
		for _, r := range s.RealServers {
			if !r.Active {
				continue
			}
			ports := []uint16{r.Port}
			if r.Port == 0 {
				ports = nil
				for _, pr := range s.ListenPorts() {
					for p := int(pr.First); p <= int(pr.Last); p++ {
						ports = append(ports, uint16(p))
					}
				}
			}
			for _, p := range ports {
				ap := netip.AddrPortFrom(r.Addr, p)
				if seen[ap] {
					continue
				}
				seen[ap] = true
				if err := rs.serve(r.Name, ap); err != nil {
					rs.Close()
					return nil, err
				}
			}
		}
	}
	return rs, nil
}

func (rs *RealServers) serve(name string, ap netip.AddrPort) error {
	ln, err := net.Listen("tcp", ap.String())
	if err != nil {
		return fmt.Errorf("demo real server %s on %s: %w", name, ap, err)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "real server %s (%s) answered %s %s from %s\n", name, ap, r.Method, r.URL.Path, r.RemoteAddr)
	})
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	rs.servers = append(rs.servers, srv)
	rs.Addrs = append(rs.Addrs, fmt.Sprintf("%s on %s", name, ap))
	rs.wg.Add(1)
	go func() {
		defer rs.wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = err // the listener was closed under it; Close reports nothing more useful
		}
	}()
	return nil
}

// Close stops every real server.
func (rs *RealServers) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for _, s := range rs.servers {
		_ = s.Shutdown(ctx)
	}
	rs.wg.Wait()
}
