// Package listing renders the virtual server table the way ipvsadm lists the
// kernel's, so that an LVS administrator reads `govs list` as he reads
// `ipvsadm -L -n`: the same headers, the same column widths, the same number
// formatting, the same order, line for line after the first.
//
// The reference is ipvsadm 1.31 (print_title, print_service_entry,
// print_largenum, list_conn and print_conn in ipvsadm.c, and libipvs's
// ipvs_cmp_services and ipvs_cmp_dests for the order). Two things differ on
// purpose and only where the caller asks:
//
//   - ipvsadm's first line, "IP Virtual Server version 1.2.1 (size=4096)",
//     describes the kernel; govs has no such line to print, so the caller
//     supplies its own in Options.Title (see TitleLine).
//   - Options.State, a govs extension, lists every real server the table
//     knows, with its state as a last column. Without it only the real
//     servers the kernel would hold are listed, as ipvsadm would show them.
//
// Addresses are always numeric. Without Options.Numeric, ports are named
// from the services database (/etc/services) as ipvsadm -L names them, but
// host names are not looked up: a reverse DNS query per line makes a
// listing slow precisely when the network is in trouble, and is why
// administrators type -n anyway.
package listing

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/govs/govs/model"
	"github.com/govs/govs/table"
)

// Options choose the view, as ipvsadm -L's flags do. When several views are
// asked for, the first of Stats, Rate, Thresholds, PersistConn wins, as in
// ipvsadm.
type Options struct {
	// Title is printed as the first line instead of ipvsadm's "IP Virtual
	// Server version ..." line. Empty prints no first line, which is what
	// ipvsadm does when it lists a single service (-L -t|-u|-f).
	Title string
	// Stats shows the cumulative counters (ipvsadm --stats).
	Stats bool
	// Rate shows the per-second rates (ipvsadm --rate).
	Rate bool
	// Thresholds shows each real server's connection thresholds
	// (ipvsadm --thresholds).
	Thresholds bool
	// PersistConn shows each real server's persistence templates
	// (ipvsadm --persistent-conn).
	PersistConn bool
	// Exact prints counters in full instead of with K, M, G, T suffixes
	// (ipvsadm --exact).
	Exact bool
	// Numeric prints ports as numbers (ipvsadm -n). Addresses are always
	// numeric.
	Numeric bool
	// NoSort keeps the snapshot's order (configuration order) instead of
	// ipvsadm's (ipvsadm --nosort).
	NoSort bool
	// State lists every real server, with its state as a last column: the
	// govs extension. Without it, real servers the kernel would not hold
	// (down, disabled, or removed from the configuration and draining) are
	// left out, so that the listing is what ipvsadm shows.
	State bool
}

// TitleLine returns the first line govs prints in place of ipvsadm's, e.g.
// "govs 1.0.0 proxy plane (3 services)".
func TitleLine(version, plane string, services int) string {
	noun := "services"
	if services == 1 {
		noun = "service"
	}
	return fmt.Sprintf("govs %s %s plane (%d %s)", version, plane, services, noun)
}

// Write lists snap's services and real servers. To list one service, as
// ipvsadm -L -t does, pass a snapshot holding only that one.
func Write(w io.Writer, snap table.Snapshot, o Options) error {
	var b bytes.Buffer
	if o.Title != "" {
		b.WriteString(o.Title)
		b.WriteByte('\n')
	}
	writeHeader(&b, o)
	svcs := slices.Clone(snap.Services)
	if !o.NoSort {
		slices.SortStableFunc(svcs, func(a, b table.ServiceStatus) int {
			return compareServices(a, b)
		})
	}
	for i := range svcs {
		writeService(&b, &svcs[i], o)
	}
	_, err := w.Write(b.Bytes())
	return err
}

// WriteTimeout prints the idle timeouts as ipvsadm -L --timeout does.
func WriteTimeout(w io.Writer, snap table.Snapshot) error {
	_, err := fmt.Fprintf(w, "Timeout (tcp tcpfin udp): %d %d %d\n",
		snap.TCPTimeout, snap.TCPFinTimeout, snap.UDPTimeout)
	return err
}

// WriteConns lists connection entries and persistence templates as
// ipvsadm -L -c does, in the order given. Only Options.Numeric applies:
// ipvsadm's first line here is its own "IPVS connection entries", which
// govs keeps.
func WriteConns(w io.Writer, conns []table.ConnStatus, o Options) error {
	var b bytes.Buffer
	b.WriteString("IPVS connection entries\n")
	fmt.Fprintf(&b, "pro expire %-11s %-18s %-18s %s\n", "state", "source", "virtual", "destination")
	for _, c := range conns {
		secs := max(c.Expires, 0)
		expire := fmt.Sprintf("%02d:%02d", secs/60, secs%60)
		proto := portProto(c.Proto)
		fmt.Fprintf(&b, "%-3s %-6s %-11s %-18s %-18s %s\n", c.Proto, expire, c.State,
			endpoint(c.Source, proto, o.Numeric), endpoint(c.Virtual, proto, o.Numeric),
			endpoint(c.Destination, proto, o.Numeric))
	}
	_, err := w.Write(b.Bytes())
	return err
}

// view is the listing's layout, chosen as print_title chooses it.
type view int

const (
	viewDefault view = iota
	viewStats
	viewRate
	viewThresholds
	viewPersist
)

func (o Options) view() view {
	switch {
	case o.Stats:
		return viewStats
	case o.Rate:
		return viewRate
	case o.Thresholds:
		return viewThresholds
	case o.PersistConn:
		return viewPersist
	}
	return viewDefault
}

// stateHeader is the extension column's title, appended where the real
// servers' rows end.
const stateHeader = "State"

func writeHeader(b *bytes.Buffer, o Options) {
	const local, remote = "Prot LocalAddress:Port", "  -> RemoteAddress:Port"
	switch o.view() {
	case viewStats:
		fmt.Fprintf(b, "%-33s %8s %8s %8s %8s %8s", local, "Conns", "InPkts", "OutPkts", "InBytes", "OutBytes")
	case viewRate:
		fmt.Fprintf(b, "%-33s %8s %8s %8s %8s %8s", local, "CPS", "InPPS", "OutPPS", "InBPS", "OutBPS")
	case viewThresholds:
		fmt.Fprintf(b, "%-33s %-10s %-10s %-10s %-10s", local, "Uthreshold", "Lthreshold", "ActiveConn", "InActConn")
	case viewPersist:
		fmt.Fprintf(b, "%-33s %-9s %-11s %-10s %-10s", local, "Weight", "PersistConn", "ActiveConn", "InActConn")
	default:
		b.WriteString("Prot LocalAddress:Port Scheduler Flags\n")
		b.WriteString(remote + "           Forward Weight ActiveConn InActConn")
		if o.State {
			// InActConn's values are 10 wide, its title 9.
			b.WriteString("  " + stateHeader)
		}
		b.WriteString("\n")
		return
	}
	// In the numeric views the real servers' columns line up under the
	// first title line, so the extension column's title goes there too.
	if o.State {
		b.WriteString(" " + stateHeader)
	}
	b.WriteString("\n" + remote + "\n")
}

func writeService(b *bytes.Buffer, s *table.ServiceStatus, o Options) {
	fam := serviceFamily(s)
	name := serviceName(s, fam, o.Numeric)
	switch o.view() {
	case viewStats:
		fmt.Fprintf(b, "%-33s", name)
		largenums(b, o.Exact, s.Stats.Conns, s.Stats.InPkts, s.Stats.OutPkts, s.Stats.InBytes, s.Stats.OutBytes)
	case viewRate:
		fmt.Fprintf(b, "%-33s", name)
		largenums(b, o.Exact, s.Rates.CPS, s.Rates.InPPS, s.Rates.OutPPS, s.Rates.InBPS, s.Rates.OutBPS)
	default:
		// The thresholds and persistent-conn views share the default
		// service line.
		b.WriteString(name + " " + s.Scheduler)
		if f, err := model.ParseSchedFlags(s.SchedFlags); err == nil && f != 0 {
			b.WriteString(" (" + schedFlags(s.Scheduler, f) + ")")
		} else if err != nil {
			b.WriteString(" (" + s.SchedFlags + ")")
		}
		if s.Persistent > 0 {
			b.WriteString(" persistent " + strconv.Itoa(s.Persistent))
			if m := persistMask(fam, s.PrefixLen); m != "" {
				b.WriteString(" mask " + m)
			}
		}
		if s.OnePacket {
			b.WriteString(" ops")
		}
	}
	b.WriteByte('\n')

	dests := make([]table.DestStatus, 0, len(s.Dests))
	for _, d := range s.Dests {
		if o.State || inKernel(d) {
			dests = append(dests, d)
		}
	}
	if !o.NoSort {
		slices.SortStableFunc(dests, compareDests)
	}
	proto := portProto(s.Proto)
	if s.FWMark != 0 {
		// ipvsadm -f creates mark services as TCP ("a sane value, even
		// though it is not used"), and names their ports so.
		proto = "tcp"
	}
	for i := range dests {
		writeDest(b, &dests[i], proto, o)
	}
}

func writeDest(b *bytes.Buffer, d *table.DestStatus, proto string, o Options) {
	name := hostPort(d.Addr, d.Port, proto, o.Numeric)
	if a, err := netip.ParseAddr(d.Addr); err == nil && a.Unmap().Is4() {
		name = truncate(name, 28)
	}
	switch o.view() {
	case viewStats:
		fmt.Fprintf(b, "  -> %-28s", name)
		largenums(b, o.Exact, d.Stats.Conns, d.Stats.InPkts, d.Stats.OutPkts, d.Stats.InBytes, d.Stats.OutBytes)
	case viewRate:
		// ipvsadm prints a real server's connection and packet rates in
		// full and only its byte rates through print_largenum.
		fmt.Fprintf(b, "  -> %-28s %8d %8d %8d", name, d.Rates.CPS, d.Rates.InPPS, d.Rates.OutPPS)
		largenums(b, o.Exact, d.Rates.InBPS, d.Rates.OutBPS)
	case viewThresholds:
		fmt.Fprintf(b, "  -> %-28s %-10d %-10d %-10d %-10d", name, d.UpperThreshold, d.LowerThreshold, d.ActiveConns, d.InactiveConns)
	case viewPersist:
		fmt.Fprintf(b, "  -> %-28s %-9d %-11d %-10d %-10d", name, d.Weight, d.PersistConns, d.ActiveConns, d.InactiveConns)
	default:
		fmt.Fprintf(b, "  -> %-28s %-7s %-6d %-10d %-10d", name, d.Forward, d.Weight, d.ActiveConns, d.InactiveConns)
	}
	if o.State {
		b.WriteString(" " + destState(d))
	}
	b.WriteByte('\n')
}

// inKernel reports whether the kernel's table would hold d: Piranha's nanny
// removes a failed real server with ipvsadm -d unless quiesce_server keeps
// it at weight 0, and a real server taken out of lvs.cf lingers only in the
// kernel's trash, which ipvsadm does not list.
func inKernel(d table.DestStatus) bool {
	if d.Removed {
		return false
	}
	st, err := table.ParseState(d.State)
	return err != nil || st.InService()
}

// destState renders the extension column: the state, what else is
// notable, and why.
func destState(d *table.DestStatus) string {
	s := d.State
	if s == "" {
		s = "-"
	}
	if d.Removed {
		s += ",removed"
	}
	if d.Overloaded {
		s += ",overloaded"
	}
	if d.Reason != "" {
		s += " (" + d.Reason + ")"
	}
	return s
}

// schedFlags renders scheduler flags as ipvsadm's print_sched_flags does.
// For sh and mh it names only their two flags, so a lone flag-3 on them
// prints as "()", exactly as ipvsadm shows it.
func schedFlags(sched string, f model.SchedFlags) string {
	var out []string
	switch sched {
	case "sh", "mh":
		if f.Has(model.FlagFallback) {
			out = append(out, sched+"-fallback")
		}
		if f.Has(model.FlagPort) {
			out = append(out, sched+"-port")
		}
	default:
		if f.Has(model.FlagFallback) {
			out = append(out, "flag-1")
		}
		if f.Has(model.FlagPort) {
			out = append(out, "flag-2")
		}
		if f.Has(model.FlagSched3) {
			out = append(out, "flag-3")
		}
	}
	return strings.Join(out, ",")
}

// persistMask renders the persistence granularity as ipvsadm does: a dotted
// netmask for IPv4, a prefix length for IPv6, nothing for a full address.
func persistMask(fam model.Family, bits int) string {
	if fam == model.IPv6 {
		if bits <= 0 || bits >= 128 {
			return ""
		}
		return strconv.Itoa(bits)
	}
	if bits <= 0 || bits >= 32 {
		return ""
	}
	m := ^uint32(0) << (32 - bits)
	return netip.AddrFrom4([4]byte{byte(m >> 24), byte(m >> 16), byte(m >> 8), byte(m)}).String()
}

func serviceFamily(s *table.ServiceStatus) model.Family {
	if s.Family == 6 {
		return model.IPv6
	}
	if s.Family == 4 {
		return model.IPv4
	}
	if a, err := netip.ParseAddr(s.VIP); err == nil {
		return model.FamilyOf(a)
	}
	return model.IPv4
}

// serviceName is ipvsadm's svc_name: "TCP  192.0.2.1:80", "FWM  80",
// "FWM  80 IPv6". An IPv4 name is cut at 33 bytes, the width of its column.
func serviceName(s *table.ServiceStatus, fam model.Family, numeric bool) string {
	if s.FWMark != 0 {
		n := "FWM  " + strconv.FormatUint(uint64(s.FWMark), 10)
		if fam == model.IPv6 {
			n += " IPv6"
		}
		return n
	}
	n := fmt.Sprintf("%-4s %s", s.Proto, hostPort(s.VIP, s.Port, portProto(s.Proto), numeric))
	if fam != model.IPv6 {
		n = truncate(n, 33)
	}
	return n
}

// hostPort renders an address and port as ipvsadm's addrport_to_anyname:
// "192.0.2.1:80", "[2001:db8::1]:80", with the port named unless numeric.
func hostPort(addr string, port uint16, proto string, numeric bool) string {
	host := addr
	if a, err := netip.ParseAddr(addr); err == nil {
		a = a.Unmap()
		host = a.String()
		if a.Is6() {
			host = "[" + host + "]"
		}
	} else if strings.Contains(addr, ":") {
		host = "[" + addr + "]"
	}
	return host + ":" + portName(port, proto, numeric)
}

// endpoint re-renders an "addr:port" string of a connection entry.
func endpoint(s, proto string, numeric bool) string {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return s
	}
	return hostPort(ap.Addr().String(), ap.Port(), proto, numeric)
}

// portProto maps a protocol name to the services database's spelling; it
// is empty for protocols whose ports ipvsadm never names (IP templates).
func portProto(p string) string {
	switch strings.ToUpper(p) {
	case "TCP":
		return "tcp"
	case "UDP":
		return "udp"
	}
	return ""
}

func portName(port uint16, proto string, numeric bool) string {
	if !numeric && proto != "" {
		if n, ok := lookupPort(port, proto); ok {
			return n
		}
	}
	return strconv.Itoa(int(port))
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// largenums prints counters as ipvsadm's print_largenum: nine columns wide,
// and beyond 10^8 scaled down with a K, M, G or T suffix unless exact.
func largenums(b *bytes.Buffer, exact bool, vs ...uint64) {
	for _, v := range vs {
		b.WriteString(largenum(v, exact))
	}
}

func largenum(i uint64, exact bool) string {
	if exact {
		s := strconv.FormatUint(i, 10)
		w := len(s) + 1
		if len(s) <= 8 {
			w = 9
		}
		return fmt.Sprintf("%*s", w, s)
	}
	switch {
	case i < 100_000_000:
		return fmt.Sprintf("%9d", i)
	case i < 1_000_000_000:
		return fmt.Sprintf("%8dK", i/1_000)
	case i < 100_000_000_000:
		return fmt.Sprintf("%8dM", i/1_000_000)
	case i < 100_000_000_000_000:
		return fmt.Sprintf("%8dG", i/1_000_000_000)
	}
	return fmt.Sprintf("%8dT", i/1_000_000_000_000)
}

// afOrder is the order of the kernel's address families in ipvsadm's sort:
// AF_INET (2) before AF_INET6 (10).
func afOrder(f model.Family) int {
	if f == model.IPv6 {
		return 10
	}
	return 2
}

// compareServices is libipvs's ipvs_cmp_services: by mark, family,
// protocol, address, port. Marks and addresses are compared as ipvsadm
// does, by the sign of their 32-bit difference: addresses more than 2^31
// apart sort the "wrong" way round (192.168.0.1 before 10.0.0.1), and govs
// keeps that so its listing reads in the same order as ipvsadm's.
func compareServices(a, b table.ServiceStatus) int {
	if r := wrapCmp(a.FWMark, b.FWMark); r != 0 {
		return r
	}
	fa, fb := serviceFamily(&a), serviceFamily(&b)
	if r := cmp.Compare(afOrder(fa), afOrder(fb)); r != 0 {
		return r
	}
	if r := cmp.Compare(protoNumber(a), protoNumber(b)); r != 0 {
		return r
	}
	if r := compareAddrs(a.VIP, b.VIP, fa == model.IPv6); r != 0 {
		return r
	}
	return cmp.Compare(a.Port, b.Port)
}

// compareDests is libipvs's ipvs_cmp_dests: by address, then port.
func compareDests(a, b table.DestStatus) int {
	a6 := false
	if x, err := netip.ParseAddr(a.Addr); err == nil {
		a6 = !x.Unmap().Is4()
	}
	if r := compareAddrs(a.Addr, b.Addr, a6); r != 0 {
		return r
	}
	return cmp.Compare(a.Port, b.Port)
}

func protoNumber(s table.ServiceStatus) int {
	if s.FWMark != 0 {
		return int(model.ProtoTCP)
	}
	switch strings.ToUpper(s.Proto) {
	case "TCP":
		return int(model.ProtoTCP)
	case "UDP":
		return int(model.ProtoUDP)
	}
	return 0
}

// compareAddrs compares two addresses word by word as libipvs does: all
// four 32-bit words when the first is IPv6, only the first word otherwise
// (an IPv4 address fills the first word of the kernel's address union).
func compareAddrs(a, b string, six bool) int {
	wa, wb := addrWords(a), addrWords(b)
	n := 1
	if six {
		n = 4
	}
	for i := range n {
		if r := wrapCmp(wa[i], wb[i]); r != 0 {
			return r
		}
	}
	return 0
}

func addrWords(s string) [4]uint32 {
	var w [4]uint32
	a, err := netip.ParseAddr(s)
	if err != nil {
		return w
	}
	a = a.Unmap()
	if a.Is4() {
		v := a.As4()
		w[0] = uint32(v[0])<<24 | uint32(v[1])<<16 | uint32(v[2])<<8 | uint32(v[3])
		return w
	}
	v := a.As16()
	for i := range w {
		w[i] = uint32(v[4*i])<<24 | uint32(v[4*i+1])<<16 | uint32(v[4*i+2])<<8 | uint32(v[4*i+3])
	}
	return w
}

// wrapCmp is C's `int r = x - y` on unsigned 32-bit values.
func wrapCmp(x, y uint32) int {
	return cmp.Compare(int32(x-y), 0)
}
