package config

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/govs/govs/model"
)

func schedulerList() string { return strings.Join(schedulerNames(), ", ") }

func schedulerNames() []string {
	names := make([]string, len(model.Schedulers))
	for i, s := range model.Schedulers {
		names[i] = string(s)
	}
	return names
}

func knownLoadMonitor(s string) bool {
	switch s {
	case "", "none", "uptime", "rup", "ruptime":
		return true
	}
	return false
}

// sorry reads sorry_server: an address as Piranha wrote it, which takes the
// virtual port, or govs's address:port ([v6]:port) to name another port.
// 0.0.0.0 was Piranha's "none".
func (p *parser) sorry(s string) (netip.Addr, int, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		if ap.Addr().Zone() != "" {
			return netip.Addr{}, -1, fmt.Errorf("address %q must not have a zone", s)
		}
		if ap.Addr().Unmap().IsUnspecified() {
			return netip.Addr{}, -1, nil
		}
		return ap.Addr().Unmap(), int(ap.Port()), nil
	}
	a, err := p.host(s, true)
	if err != nil {
		return netip.Addr{}, -1, err
	}
	if a.IsUnspecified() {
		return netip.Addr{}, -1, nil
	}
	return a, -1, nil
}

// checkDirs accepts the legacy `dirs = [ a b c ]` list, also with the
// brackets glued to the first and last items, which Piranha rejected but
// is plainly meant the same.
func checkDirs(p *parser, v []token) error {
	if len(v) == 0 || !strings.HasPrefix(v[0].text, "[") {
		return fmt.Errorf("list expected (want: dirs = [ DIR ... ])")
	}
	for _, t := range v {
		if strings.HasSuffix(t.text, "]") && !(t.text == "[") {
			return nil
		}
	}
	return fmt.Errorf("list expected: missing \"]\"")
}

// parsePortRanges reads fwmark_ports: ports and ranges separated by commas,
// in one token. Overlaps are checked with the rest of the service.
func parsePortRanges(s string) (model.PortRanges, error) {
	var out model.PortRanges
	for _, part := range strings.Split(s, ",") {
		// A service name may itself hold a "-" (ftp-data), so try the whole
		// part as one port before reading it as a range.
		if a, err := ParsePort(part); err == nil {
			if a == 0 {
				return nil, fmt.Errorf("port 0 in %q cannot be marked", s)
			}
			out = append(out, model.PortRange{First: a, Last: a})
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := ParsePort(lo)
		if err != nil {
			return nil, fmt.Errorf("bad port %q in %q: %v", lo, s, err)
		}
		b := a
		if isRange {
			if b, err = ParsePort(hi); err != nil {
				return nil, fmt.Errorf("bad port %q in %q: %v", hi, s, err)
			}
		}
		if a == 0 {
			return nil, fmt.Errorf("port 0 in %q cannot be marked", s)
		}
		if a > b {
			return nil, fmt.Errorf("empty range %q in %q", part, s)
		}
		out = append(out, model.PortRange{First: a, Last: b})
	}
	return out, nil
}
