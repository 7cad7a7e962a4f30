package ipvs

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/govs/govs/model"
	"github.com/govs/govs/table"
)

// MarkRule marks the traffic of one firewall-mark service: packets to VIP
// (any address when invalid) with protocol Proto and a destination port in
// Ports get Mark, so that IPVS finds the service by the packet's mark.
type MarkRule struct {
	Mark  uint32
	VIP   netip.Addr
	Proto model.Proto
	Ports model.PortRanges
}

// String renders the rule as nft lists it.
func (r MarkRule) String() string {
	var b strings.Builder
	if r.VIP.IsValid() {
		if r.VIP.Is4() {
			b.WriteString("ip daddr " + r.VIP.String() + " ")
		} else {
			b.WriteString("ip6 daddr " + r.VIP.String() + " ")
		}
	}
	proto := "tcp"
	if r.Proto == model.ProtoUDP {
		proto = "udp"
	}
	ports := r.Ports.String()
	if len(r.Ports) > 1 {
		parts := make([]string, len(r.Ports))
		for i, p := range r.Ports {
			parts[i] = p.String()
		}
		ports = "{ " + strings.Join(parts, ", ") + " }"
	}
	fmt.Fprintf(&b, "%s dport %s meta mark set 0x%08x", proto, ports, r.Mark)
	return b.String()
}

// Marker installs govs's mark rules. The nftables implementation keeps
// them in a table of govs's own; tests substitute a fake.
type Marker interface {
	// Install makes the installed rules exactly rules, atomically: no
	// packet sees a half-replaced rule set. An empty list removes govs's
	// table.
	Install(rules []MarkRule) error
	// Verify reports whether the installed rules are still rules (someone
	// may have deleted govs's table by hand).
	Verify(rules []MarkRule) (bool, error)
	// Close removes govs's table and releases the connection.
	Close() error
}

// markRules derives the rules the table's mark services need, in a stable
// order. network is the router-wide forwarding method.
//
// An FTP service with direct-routing or tunnelled real servers also marks
// port 20: in active mode the real server opens the data connection from
// VIP:20 straight to the client, and the client's packets back to VIP:20
// come to the router, which must send them to that real server (the
// persistence template of the mark finds it).
func markRules(t *table.Table, network model.Forward) []MarkRule {
	var out []MarkRule
	for _, s := range t.Services() {
		cfg := s.Config()
		if cfg.FWMark == 0 || len(cfg.MarkPorts) == 0 {
			continue
		}
		proto := cfg.Proto
		if proto != model.ProtoUDP {
			proto = model.ProtoTCP
		}
		ports := slices.Clone(cfg.MarkPorts)
		if directFTP(cfg, network) && !ports.Contains(20) {
			ports = append(ports, model.PortRange{First: 20, Last: 20})
			slices.SortFunc(ports, func(a, b model.PortRange) int { return int(a.First) - int(b.First) })
		}
		out = append(out, MarkRule{Mark: cfg.FWMark, VIP: cfg.VIP.Unmap(), Proto: proto, Ports: ports})
	}
	return out
}

func equalRules(a, b []MarkRule) bool {
	return slices.EqualFunc(a, b, func(x, y MarkRule) bool {
		return x.Mark == y.Mark && x.VIP == y.VIP && x.Proto == y.Proto && slices.Equal(x.Ports, y.Ports)
	})
}
