package cli

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/govs/govs/config"
	"github.com/govs/govs/control"
	"github.com/govs/govs/listing"
	"github.com/govs/govs/table"
)

// cmdList is ipvsadm -L with ipvsadm's listing options, so that an
// operator's habits work: the same flags mean the same views.
func cmdList(e *env, args []string) int {
	c := commands()["list"]
	fs := newFlags(e, c)
	fs.Bool("n", true, "numeric output (always on: govs never resolves names)")
	// ipvsadm's -L and -l (list) are what govs list does anyway.
	fs.Bool("L", true, "list, as ipvsadm -L (always on)")
	fs.Bool("l", true, "list, as ipvsadm -l (always on)")
	var o listing.Options
	fs.BoolVar(&o.Stats, "stats", false, "show traffic counters, like ipvsadm --stats")
	fs.BoolVar(&o.Rate, "rate", false, "show rates, like ipvsadm --rate")
	fs.BoolVar(&o.Thresholds, "thresholds", false, "show the real servers' connection thresholds, like ipvsadm --thresholds")
	fs.BoolVar(&o.PersistConn, "persistent-conn", false, "show the real servers' persistence templates, like ipvsadm --persistent-conn")
	fs.BoolVar(&o.Exact, "exact", false, "print counters in full, without K/M/G suffixes, like ipvsadm --exact")
	fs.BoolVar(&o.NoSort, "nosort", false, "keep the configuration's order, like ipvsadm --nosort")
	fs.Bool("sort", true, "sort services and real servers, like ipvsadm --sort (the default)")
	var tcp, udp, mark string
	for _, f := range []struct {
		short, long, proto string
		v                  *string
	}{{"t", "tcp-service", "TCP", &tcp}, {"u", "udp-service", "UDP", &udp}} {
		fs.StringVar(f.v, f.short, "", "list only the "+f.proto+" service at `VIP:PORT`, like ipvsadm -L -"+f.short)
		fs.StringVar(f.v, f.long, "", "the same as -"+f.short)
	}
	fs.StringVar(&mark, "f", "", "list only the firewall-mark service `MARK`, like ipvsadm -L -f")
	fs.StringVar(&mark, "fwmark-service", "", "the same as -f")
	conns := fs.Bool("c", false, "show the connection table and persistence templates, like ipvsadm -L -c")
	fs.BoolVar(conns, "connection", false, "the same as -c")
	timeout := fs.Bool("timeout", false, "show the tcp, tcpfin and udp timeouts, like ipvsadm -L --timeout")
	asJSON := fs.Bool("json", false, "print JSON for scripts")
	socket := socketFlag(fs)
	if code, ok := parse(fs, expandShortFlags(args, "Llnc")); !ok {
		return code
	}
	if o.Stats && o.Rate {
		fmt.Fprintln(e.stderr, "govs list: --stats and --rate are exclusive")
		return ExitUsage
	}
	filter, err := serviceFilter(tcp, udp, mark)
	if err != nil {
		fmt.Fprintf(e.stderr, "govs list: %v\n", err)
		return ExitUsage
	}
	cl := control.Dial(*socket)
	if *conns {
		list, err := cl.Conns(e.ctx)
		if err != nil {
			return clientFailure(e, "list", err)
		}
		if *asJSON {
			return writeJSON(e, list)
		}
		if err := listing.WriteConns(e.stdout, list, listing.Options{Numeric: true}); err != nil {
			return clientFailure(e, "list", err)
		}
		return ExitOK
	}
	snap, err := cl.Snapshot(e.ctx)
	if err != nil {
		return clientFailure(e, "list", err)
	}
	if *timeout {
		if err := listing.WriteTimeout(e.stdout, snap); err != nil {
			return clientFailure(e, "list", err)
		}
		return ExitOK
	}
	if filter != nil {
		var keep []table.ServiceStatus
		for _, s := range snap.Services {
			if filter.matches(s) {
				keep = append(keep, s)
			}
		}
		if len(keep) == 0 {
			fmt.Fprintf(e.stderr, "govs list: no such service: %s\n", filter)
			return ExitFailure
		}
		snap.Services = keep
	}
	if *asJSON {
		return writeJSON(e, snap)
	}
	st, err := cl.Status(e.ctx)
	if err != nil {
		return clientFailure(e, "list", err)
	}
	o.Numeric = true
	o.State = !o.Stats && !o.Rate && !o.Thresholds && !o.PersistConn
	// One service is listed without the title line, as ipvsadm -L -t
	// lists it.
	if filter == nil {
		o.Title = listing.TitleLine(st.Version, st.Plane, len(snap.Services)) + roleNote(st)
	}
	if err := listing.Write(e.stdout, snap, o); err != nil {
		return clientFailure(e, "list", err)
	}
	return ExitOK
}

// expandShortFlags splits bundles of one-letter flags, ipvsadm's -Ln, into
// the flags Go's flag package reads one at a time. Only letters in
// letters are bundled; anything else is left for the flag package to
// judge.
func expandShortFlags(args []string, letters string) []string {
	var out []string
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		body, ok := strings.CutPrefix(a, "-")
		if !ok || len(body) < 2 || strings.HasPrefix(body, "-") || strings.Trim(body, letters) != "" {
			out = append(out, a)
			continue
		}
		for _, r := range body {
			out = append(out, "-"+string(r))
		}
	}
	return out
}

// svcFilter is ipvsadm's -t, -u or -f service.
type svcFilter struct {
	proto string
	addr  netip.AddrPort
	mark  uint32
}

func serviceFilter(tcp, udp, mark string) (*svcFilter, error) {
	given := 0
	for _, v := range []string{tcp, udp, mark} {
		if v != "" {
			given++
		}
	}
	switch {
	case given == 0:
		return nil, nil
	case given > 1:
		return nil, fmt.Errorf("-t, -u and -f name one service: give one of them")
	case mark != "":
		n, err := strconv.ParseUint(mark, 0, 32)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("-f %q: want a firewall mark, a number from 1 to 4294967295", mark)
		}
		return &svcFilter{mark: uint32(n)}, nil
	}
	proto, v := "TCP", tcp
	if udp != "" {
		proto, v = "UDP", udp
	}
	host, port, err := net.SplitHostPort(v)
	a, aerr := netip.ParseAddr(host)
	if err != nil || aerr != nil || a.Zone() != "" {
		return nil, fmt.Errorf("%q: want VIP:PORT, e.g. 192.0.2.10:80 or [2001:db8::10]:443", v)
	}
	p, err := config.ParsePort(port)
	if err != nil {
		return nil, fmt.Errorf("%q: %v", v, err)
	}
	return &svcFilter{proto: proto, addr: netip.AddrPortFrom(a.Unmap(), p)}, nil
}

func (f *svcFilter) matches(s table.ServiceStatus) bool {
	if f.mark != 0 {
		return s.FWMark == f.mark
	}
	a, err := netip.ParseAddr(s.VIP)
	return err == nil && s.FWMark == 0 && strings.EqualFold(s.Proto, f.proto) &&
		netip.AddrPortFrom(a.Unmap(), s.Port) == f.addr
}

func (f *svcFilter) String() string {
	if f.mark != 0 {
		return fmt.Sprintf("FWM %d", f.mark)
	}
	return f.proto + " " + f.addr.String()
}

// spec names the service as the control socket's service keys do.
func (f *svcFilter) spec() string {
	if f.mark != 0 {
		return fmt.Sprintf("fwm:%d", f.mark)
	}
	return strings.ToLower(f.proto) + ":" + f.addr.String()
}

// cmdZero is ipvsadm -Z: the counters and rates of one service, or of
// all, start again from zero.
func cmdZero(e *env, args []string) int {
	c := commands()["zero"]
	fs := newFlags(e, c)
	var tcp, udp, mark string
	fs.StringVar(&tcp, "t", "", "zero only the TCP service at `VIP:PORT`, like ipvsadm -Z -t")
	fs.StringVar(&udp, "u", "", "zero only the UDP service at `VIP:PORT`, like ipvsadm -Z -u")
	fs.StringVar(&mark, "f", "", "zero only the firewall-mark service `MARK`, like ipvsadm -Z -f")
	socket := socketFlag(fs)
	pos, code, ok := parsePositional(fs, args, 1)
	if !ok {
		return code
	}
	filter, err := serviceFilter(tcp, udp, mark)
	switch {
	case err != nil:
		fmt.Fprintf(e.stderr, "govs zero: %v\n", err)
		return ExitUsage
	case len(pos) == 1 && filter != nil:
		fmt.Fprintln(e.stderr, "govs zero: name one service: a NAME from lvs.cf, or -t, -u or -f")
		return ExitUsage
	}
	spec := ""
	if filter != nil {
		spec = filter.spec()
	} else if len(pos) == 1 {
		spec = pos[0]
	}
	res, err := control.Dial(*socket).Zero(e.ctx, spec)
	if err != nil {
		return clientFailure(e, "zero", err)
	}
	fmt.Fprintf(e.stdout, "zeroed the counters of %d service(s)", len(res.Services))
	if len(res.Services) > 0 {
		fmt.Fprintf(e.stdout, ": %s", strings.Join(res.Services, ", "))
	}
	fmt.Fprintln(e.stdout)
	return ExitOK
}
