package ipvs

import (
	"bufio"
	"cmp"
	"encoding/hex"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/govs/govs/table"
)

// parseConns reads /proc/net/ip_vs_conn, the kernel's connection table as
// ipvsadm -L -c reads it (IPVS's netlink interface has no command for
// it), into listing entries: client, virtual and real server addresses,
// state and the seconds left, templates (state NONE, or ASSURED once a
// connection they control was established) marked.
// Addresses are hexadecimal for IPv4 and colon-separated for IPv6, ports
// hexadecimal (ip_vs_conn_seq_show).
func parseConns(r io.Reader) ([]table.ConnStatus, error) {
	var out []table.ConnStatus
	sc := bufio.NewScanner(r)
	first := true
	for sc.Scan() {
		if first {
			first = false
			continue // the header
		}
		f := strings.Fields(sc.Text())
		if len(f) < 9 {
			continue
		}
		var ap [3]netip.AddrPort
		for i := range ap {
			a, err := parseConnAddr(f[1+2*i], f[2+2*i])
			if err != nil {
				return nil, fmt.Errorf("ip_vs_conn: %q: %w", sc.Text(), err)
			}
			ap[i] = a
		}
		exp, err := strconv.Atoi(f[8])
		if err != nil {
			return nil, fmt.Errorf("ip_vs_conn: %q: expiry: %w", sc.Text(), err)
		}
		out = append(out, table.ConnStatus{Proto: f[0], Expires: exp, State: f[7], Source: ap[0].String(),
			Virtual: ap[1].String(), Destination: ap[2].String(), Template: f[7] == "NONE" || f[7] == "ASSURED"})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("ip_vs_conn: %w", err)
	}
	slices.SortFunc(out, func(a, b table.ConnStatus) int {
		return cmp.Or(cmp.Compare(a.Virtual, b.Virtual), cmp.Compare(a.Source, b.Source))
	})
	return out, nil
}

func parseConnAddr(addr, port string) (netip.AddrPort, error) {
	p, err := strconv.ParseUint(port, 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("port %q: %w", port, err)
	}
	var a netip.Addr
	if strings.Contains(addr, ":") {
		a, err = netip.ParseAddr(addr)
	} else {
		var b []byte
		if b, err = hex.DecodeString(addr); err == nil && len(b) != 4 {
			err = fmt.Errorf("want 8 hex digits")
		}
		if err == nil {
			a = netip.AddrFrom4([4]byte(b))
		}
	}
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("address %q: %w", addr, err)
	}
	return netip.AddrPortFrom(a, uint16(p)), nil
}

// Conns lists the kernel's connection entries and templates, for govs
// list -c: on this plane the kernel, not the table, holds them.
func (p *Plane) Conns() ([]table.ConnStatus, error) { return p.k.Conns() }
