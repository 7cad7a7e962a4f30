//go:build !linux

package health

import (
	"context"
	"errors"
	"net"
	"net/netip"
)

// haveFastDial reports whether startTCP is implemented here.
const haveFastDial = false

// fastDial is net.Dialer where the lean Linux dialer is not built.
func fastDial(ctx context.Context, network, address string) (net.Conn, error) {
	return (&net.Dialer{}).DialContext(ctx, network, address)
}

type fastConn struct{ net.Conn }

func (c *fastConn) abort()                              {}
func (c *fastConn) waitConnected(context.Context) error { return nil }

func startTCP(netip.AddrPort) (*fastConn, error) { return nil, errors.New("not available") }
