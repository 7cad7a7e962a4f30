//go:build linux

package ipvs

import (
	"net/netip"
	"time"

	"github.com/govs/govs/model"
	"github.com/govs/govs/table"
)

// parityCase is a scenario: a service and a client script.
type parityCase struct {
	name  string
	svc   func(port uint16) model.Service
	steps func(r *parityRun)
}

// svc3 is a NAT service over rs1..rs3 at the given weights.
func svc3(sched model.Scheduler, weights ...int) func(uint16) model.Service {
	return func(port uint16) model.Service {
		var rs []model.RealServer
		for i, w := range weights {
			rs = append(rs, gServer(i, 80, w, 0))
		}
		return gService("parity", model.ProtoTCP, vipNAT, port, sched, rs...)
	}
}

// shorts makes n short connections, cycling through the first k clients.
func shorts(n, k int) func(*parityRun) {
	return func(r *parityRun) {
		for i := range n {
			r.short(parityClients[i%k])
		}
	}
}

// longs opens n connections from the first client and keeps them until the
// last is scheduled, so that each pick sees the active ones before it.
func longs(n int) func(*parityRun) {
	return func(r *parityRun) {
		for range n {
			r.long(parityClients[0])
		}
		r.closeAll()
	}
}

// bundleCase is a persistent 80+443 mark bundle whose real servers have
// port rsPort: each client reaches one real server on both ports.
func bundleCase(name string, rsPort uint16) parityCase {
	return parityCase{name, func(port uint16) model.Service {
		vip := vipMark
		if port >= 30000 {
			vip = vipFTP
		}
		s := gService("parity", model.ProtoTCP, vip, 80, model.SchedRR,
			gServer(0, rsPort, 1, 0), gServer(1, rsPort, 1, 0), gServer(2, rsPort, 1, 0))
		s.FWMark = uint32(port)
		s.MarkPorts = model.PortRanges{{First: 80, Last: 80}, {First: 443, Last: 443}}
		s.Persistence = model.Persistence{Timeout: 300 * time.Second}
		return s
	}, func(r *parityRun) {
		for i := range 4 {
			r.shortTo(parityClients[i], 0, 80)
			r.shortTo(parityClients[i], 0, 443)
		}
	}}
}

// drainCase is a persistent /24 service whose clients' server is drained
// to weight 0 in between: with expire_quiescent_template = 0 (the
// kernel's default) they stay on it, as the kernel keeps the template;
// with 1 they move.
func drainCase(name string, expire bool) parityCase {
	return parityCase{name, func(port uint16) model.Service {
		s := svc3(model.SchedRR, 1, 1, 1)(port)
		s.Persistence = model.Persistence{Timeout: 300 * time.Second, PrefixLen: 24}
		return s
	}, func(r *parityRun) {
		r.cfg.Global.ExpireQuiescentTemplate = expire
		r.apply()
		shorts(3, 3)(r)
		first := r.seq[0]
		for _, rs := range r.cfg.Services[0].RealServers {
			if rs.Name == first {
				r.svc().SetState(rs.Key(), table.StateDraining, "parity")
			}
		}
		// The kernel plane sets a drained server's weight on its next
		// reconcile; the proxy plane's table has it at once.
		r.apply()
		shorts(3, 3)(r)
		// Back to the kernel's default for the cases after this one.
		r.cfg.Global.ExpireQuiescentTemplate = false
		r.apply()
	}}
}

// nodestCase is a connection whose real server goes down, with
// expire_nodest_conn off (the kernel's default: it stalls, and resumes
// when the server is back) or on (it is reset, and the next connection
// goes elsewhere).
func nodestCase(name string, expire bool) parityCase {
	return parityCase{name, svc3(model.SchedRR, 1, 1, 1), func(r *parityRun) {
		r.cfg.Global.ExpireNodestConn = expire
		r.apply()
		r.long(parityClients[0])
		r.setState(0, table.StateDown)
		r.probe()
		if !expire {
			r.setState(0, table.StateUp)
			r.resumed()
		} else {
			r.setState(0, table.StateUp)
			shorts(2, 1)(r)
		}
		r.closeAll()
		r.cfg.Global.ExpireNodestConn = false
		r.apply()
	}}
}

// portCase is a port-hashing scheduler (sh-port, mh-port) fed eight
// connections from fixed source ports counted from first.
func portCase(name string, sched model.Scheduler, first int) parityCase {
	return parityCase{name, func(port uint16) model.Service {
		s := svc3(sched, 1, 1, 1)(port)
		s.SchedFlags = model.FlagPort
		return s
	}, func(r *parityRun) {
		for i := range 8 {
			r.shortTo(parityClients[0], first+int(r.port%1000)*8+i, r.port)
		}
	}}
}

var parityCases = []parityCase{
	{"rr equal", svc3(model.SchedRR, 1, 1, 1), shorts(9, 1)},
	{"wrr 3:2:1", svc3(model.SchedWRR, 3, 2, 1), shorts(12, 1)},
	{"lc equal, 30 short", svc3(model.SchedLC, 1, 1, 1), shorts(30, 1)},
	{"wlc equal, 30 short", svc3(model.SchedWLC, 1, 1, 1), shorts(30, 1)},
	{"wlc 1:2:3, 12 short", svc3(model.SchedWLC, 1, 2, 3), shorts(12, 1)},
	{"wlc, 10 long then 10 short", svc3(model.SchedWLC, 1, 1, 1), func(r *parityRun) {
		for range 10 {
			r.long(parityClients[0])
		}
		shorts(10, 1)(r)
		r.closeAll()
	}},
	{"sed 3:2:1", svc3(model.SchedSED, 3, 2, 1), longs(6)},
	{"nq equal", svc3(model.SchedNQ, 1, 1, 1), longs(5)},
	{"fo 1:3:2", svc3(model.SchedFO, 1, 3, 2), shorts(4, 1)},
	{"ovf 2:1:1", svc3(model.SchedOVF, 2, 1, 1), longs(5)},
	{"dh", svc3(model.SchedDH, 1, 1, 1), shorts(4, 8)},
	{"sh, eight clients", svc3(model.SchedSH, 1, 2, 1), shorts(8, 8)},
	{"mh, eight clients", svc3(model.SchedMH, 1, 2, 1), shorts(8, 8)},
	{"lblc", svc3(model.SchedLBLC, 1, 1, 1), shorts(4, 8)},
	{"lblcr", svc3(model.SchedLBLCR, 1, 1, 1), shorts(4, 8)},
	{"weight 0 by reload", svc3(model.SchedRR, 1, 1, 1), func(r *parityRun) {
		shorts(3, 1)(r)
		r.cfg.Services[0].RealServers[1].Weight = 0
		r.apply()
		shorts(4, 1)(r)
	}},
	{"reload re-adds a server", svc3(model.SchedRR, 1, 1, 1), func(r *parityRun) {
		shorts(3, 1)(r)
		all := r.cfg.Services[0].RealServers
		r.cfg.Services[0].RealServers = []model.RealServer{all[0], all[2]}
		r.apply()
		shorts(2, 1)(r)
		r.cfg.Services[0].RealServers = all
		r.apply()
		shorts(6, 1)(r)
	}},
	{"removed server keeps its open connection", svc3(model.SchedRR, 1, 1, 1), func(r *parityRun) {
		r.long(parityClients[0])
		r.removeServer(r.seq[0])
		r.alive()
		shorts(4, 1)(r)
		r.closeAll()
	}},
	drainCase("persistent /24 and a drained server", false),
	{"sh-fallback, a server at weight 0", func(port uint16) model.Service {
		s := svc3(model.SchedSH, 1, 0, 1)(port)
		s.SchedFlags = model.FlagFallback
		return s
	}, shorts(8, 8)},
	portCase("sh-port, fixed source ports", model.SchedSH, 41000),
	portCase("mh-port, fixed source ports", model.SchedMH, 51000),
	{"sorry server", func(port uint16) model.Service {
		s := svc3(model.SchedRR, 1, 1)(port)
		s.Sorry = netip.AddrPortFrom(gRS[2], 80)
		return s
	}, func(r *parityRun) {
		shorts(2, 1)(r)
		for _, rs := range r.cfg.Services[0].RealServers {
			r.svc().SetState(rs.Key(), table.StateDown, "parity")
		}
		r.apply()
		shorts(2, 1)(r)
		r.svc().SetState(r.cfg.Services[0].RealServers[0].Key(), table.StateUp, "parity")
		r.apply()
		shorts(2, 1)(r)
	}},
	drainCase("persistent, drained, expire_quiescent_template = 1", true),
	{"udp rr", func(port uint16) model.Service {
		s := gService("parity", model.ProtoUDP, vipNAT, port, model.SchedRR,
			gServer(0, 53, 1, 0), gServer(1, 53, 1, 0), gServer(2, 53, 1, 0))
		return s
	}, func(r *parityRun) {
		for i := range 6 {
			r.udp(parityClients[i%2])
		}
	}},
	// Ports 80 and 443 of a VIP of each plane's own (rr hashes no
	// address), towards real servers which listen on both: the port kept
	// (0), or port 80 given, which both marked ports then reach.
	bundleCase("persistent port bundle", 0),
	bundleCase("persistent port bundle to port 80", 80),
	nodestCase("a server goes down under a connection", false),
	nodestCase("a server goes down, expire_nodest_conn = 1", true),
	{"removed server, expire_nodest_conn = 1", svc3(model.SchedRR, 1, 1, 1), func(r *parityRun) {
		r.cfg.Global.ExpireNodestConn = true
		r.apply()
		r.long(parityClients[0])
		all := r.cfg.Services[0].RealServers
		r.removeServer(r.seq[0])
		r.probe()
		shorts(2, 1)(r)
		r.closeAll()
		r.cfg.Services[0].RealServers = all
		r.cfg.Global.ExpireNodestConn = false
		r.apply()
	}},
	{"thresholds", func(port uint16) model.Service {
		s := svc3(model.SchedRR, 1, 1)(port)
		s.RealServers[0].UpperThreshold, s.RealServers[0].LowerThreshold = 2, 1
		s.RealServers[1].UpperThreshold, s.RealServers[1].LowerThreshold = 2, 1
		return s
	}, longs(5)},
}
