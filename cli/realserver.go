package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/govs/govs/control"
	"github.com/govs/govs/dataplane/ipvs"
	"github.com/govs/govs/health"
	"github.com/govs/govs/model"
	"github.com/govs/govs/router"
)

// parseTarget reads ADDR, ADDR:PORT or [V6]:PORT; port 0 means any port.
func parseTarget(s string) (model.DestKey, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return model.DestKey{Addr: ap.Addr().Unmap(), Port: ap.Port()}, nil
	}
	a, err := netip.ParseAddr(strings.Trim(s, "[]"))
	if err != nil {
		return model.DestKey{}, fmt.Errorf("bad real server %q: want ADDR or ADDR:PORT", s)
	}
	return model.DestKey{Addr: a.Unmap()}, nil
}

// RealServer serves an operator override from the control socket.
func (a routerAPI) RealServer(_ context.Context, req control.RealServerRequest) (control.RealServerResult, error) {
	bad := func(err error) error { return &control.StatusError{Code: http.StatusBadRequest, Err: err} }
	action, err := health.ParseAction(req.Action)
	if err != nil {
		return control.RealServerResult{}, bad(err)
	}
	target, err := parseTarget(req.Target)
	if err != nil {
		return control.RealServerResult{}, bad(err)
	}
	var svc *model.ServiceKey
	if req.Service != "" {
		k, err := a.r.ResolveService(req.Service)
		if err != nil {
			return control.RealServerResult{}, &control.StatusError{Code: http.StatusNotFound, Err: err}
		}
		svc = &k
	}
	n, err := a.r.Override(target, svc, action)
	if errors.Is(err, health.ErrNoMatch) {
		return control.RealServerResult{}, &control.StatusError{Code: http.StatusNotFound, Err: err}
	}
	if err != nil {
		return control.RealServerResult{}, bad(err)
	}
	return control.RealServerResult{Matched: n}, nil
}

// Zero serves govs zero.
func (a routerAPI) Zero(_ context.Context, service string) (control.ZeroResult, error) {
	keys, err := a.r.Zero(service)
	if err != nil {
		return control.ZeroResult{}, &control.StatusError{Code: http.StatusNotFound, Err: err}
	}
	res := control.ZeroResult{Services: []string{}}
	for _, k := range keys {
		res.Services = append(res.Services, k.String())
	}
	return res, nil
}

// Health serves the monitors' state.
func (a routerAPI) Health() any { return a.r.Health() }

// parseInterspersed parses flags that may come before, between or after
// the positional arguments, and returns the positionals.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func cmdRealServer(e *env, args []string) int {
	c := commands()["realserver"]
	fs := newFlags(e, c)
	service := fs.String("service", "", "limit to one virtual service: its lvs.cf name, or tcp:VIP:PORT, udp:VIP:PORT, fwm:MARK")
	socket := socketFlag(fs)
	mode := fs.String("mode", "", "setup: the router's forwarding method for this real server, direct or tunnel")
	vip := fs.String("vip", "", "setup: the virtual IP `address` the real server must accept")
	apply := fs.Bool("apply", false, "setup: make the changes (as root) instead of printing them")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		return ExitUsage
	}
	if len(pos) == 1 && pos[0] == "setup" {
		return realServerSetup(e, *mode, *vip, *apply)
	}
	if len(pos) != 2 {
		fmt.Fprintf(e.stderr, "govs realserver: want an action and a real server\nUsage: %s\n", c.usage)
		return ExitUsage
	}
	if _, err := health.ParseAction(pos[0]); err != nil {
		fmt.Fprintf(e.stderr, "govs realserver: %v\n", err)
		return ExitUsage
	}
	if _, err := parseTarget(pos[1]); err != nil {
		fmt.Fprintf(e.stderr, "govs realserver: %v\n", err)
		return ExitUsage
	}
	res, err := control.Dial(*socket).RealServer(e.ctx, control.RealServerRequest{Action: pos[0], Target: pos[1], Service: *service})
	if err != nil {
		return clientFailure(e, "realserver", err)
	}
	fmt.Fprintf(e.stdout, "%s %s: %d real-server entries\n", pos[0], pos[1], res.Matched)
	return ExitOK
}

func cmdHealth(e *env, args []string) int {
	c := commands()["health"]
	fs := newFlags(e, c)
	asJSON := fs.Bool("json", false, "print JSON for scripts")
	socket := socketFlag(fs)
	if code, ok := parse(fs, args); !ok {
		return code
	}
	raw, err := control.Dial(*socket).Health(e.ctx)
	if err != nil {
		return clientFailure(e, "health", err)
	}
	if *asJSON {
		_, _ = e.stdout.Write(append(raw, '\n'))
		return ExitOK
	}
	var hs router.HealthStatus
	if err := json.Unmarshal(raw, &hs); err != nil {
		fmt.Fprintln(e.stderr, "govs health:", err)
		return ExitFailure
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TARGET\tCHECK\tSTATE\tSINCE\tLATENCY\tREASON")
	for _, m := range hs.Monitors {
		since := "-"
		if !m.Since.IsZero() {
			since = time.Since(m.Since).Round(time.Second).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", m.Target, m.Check, m.State, since,
			m.Latency.Duration().Round(time.Microsecond), m.Reason)
	}
	tw.Flush()
	if len(hs.Agents) > 0 {
		fmt.Fprintln(e.stdout, "\nAgents:")
		for _, a := range hs.Agents {
			fmt.Fprintf(e.stdout, "  %s %s %d%% %s\n", a.Target, a.State, a.Percent, a.LastError)
		}
	}
	if len(hs.Overrides) > 0 {
		fmt.Fprintln(e.stdout, "\nOverrides:")
		for _, o := range hs.Overrides {
			svc := "every service"
			if o.Service != nil {
				svc = o.Service.String()
			}
			fmt.Fprintf(e.stdout, "  %s %s in %s (%d entries)\n", o.Action, o.Target, svc, o.Matched)
		}
	}
	return ExitOK
}

// realServerSetup prints, or applies, what a real server needs for direct
// routing or tunnelling: the part of LVS its users most often get wrong.
func realServerSetup(e *env, mode, vip string, apply bool) int {
	fwd, err := model.ParseForward(mode)
	if err != nil || fwd == model.ForwardNAT {
		fmt.Fprintln(e.stderr, "govs realserver setup: --mode must be direct or tunnel (a NAT real server needs only its default route through the router)")
		return ExitUsage
	}
	addr, err := netip.ParseAddr(vip)
	if err != nil {
		fmt.Fprintf(e.stderr, "govs realserver setup: --vip: %v\n", err)
		return ExitUsage
	}
	steps, err := ipvs.RealServerSetup(fwd, addr)
	if err != nil {
		fmt.Fprintln(e.stderr, "govs realserver setup:", err)
		return ExitFailure
	}
	for _, st := range steps {
		fmt.Fprintf(e.stdout, "# %s\n%s\n", st.Desc, st.Command)
	}
	if !apply {
		return ExitOK
	}
	if err := ipvs.Apply(steps); err != nil {
		fmt.Fprintln(e.stderr, "govs realserver setup:", err)
		return ExitFailure
	}
	fmt.Fprintln(e.stdout, "applied")
	return ExitOK
}
