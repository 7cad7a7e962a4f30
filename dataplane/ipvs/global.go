package ipvs

import (
	"errors"

	"github.com/govs/govs/model"
)

// network is the router-wide forwarding method.
func (p *Plane) network() model.Forward {
	if p.global.Network != model.ForwardDefault {
		return p.global.Network
	}
	return model.ForwardNAT
}

func (p *Plane) marksLocked(verify bool) error {
	want := markRules(p.t, p.network())
	if p.rulesOK && equalRules(want, p.rules) {
		if !verify {
			return nil
		}
		ok, err := p.marker.Verify(want)
		if err != nil || ok {
			return err
		}
		p.log.Warn("ipvs: repaired drift", "change", "reinstall mark rules in table inet "+p.o.NFTable)
	}
	if len(want) == 0 && len(p.rules) == 0 && p.rulesOK {
		return nil
	}
	p.rulesOK = false
	if err := p.marker.Install(want); err != nil {
		return err
	}
	p.rules, p.rulesOK = want, true
	return nil
}

// sysctlsLocked sets the kernel's expire_quiescent_template and
// expire_nodest_conn from lvs.cf. expire_quiescent_template is the global
// keyword, or any persistent service's expire_quiescent, since the kernel
// has one setting for all. The proxy plane reads the same keywords, so a
// drained or quiesced server's persistent clients, and the connections of
// a server that left, are treated alike on both.
func (p *Plane) sysctlsLocked() error {
	eqt := p.global.ExpireQuiescentTemplate
	for _, s := range p.t.Services() {
		if c := s.Config(); c.Persistence.Enabled() && c.Persistence.ExpireQuiescent {
			eqt = true
		}
	}
	for _, sc := range []struct {
		name string
		on   bool
	}{{"expire_quiescent_template", eqt}, {"expire_nodest_conn", p.global.ExpireNodestConn}} {
		v := "0"
		if sc.on {
			v = "1"
		}
		if p.sysctls[sc.name] == v {
			continue
		}
		if err := p.k.SetSysctl(sc.name, v); err != nil {
			return err
		}
		p.sysctls[sc.name] = v
	}
	return nil
}

func (p *Plane) timeoutsLocked() error {
	g := p.global
	want := Timeouts{TCP: g.TCPTimeout, TCPFin: g.TCPFinTimeout, UDP: g.UDPTimeout}
	if want == (Timeouts{}) {
		return nil
	}
	have, err := p.k.Timeouts()
	if err != nil {
		return err
	}
	if (want.TCP == 0 || want.TCP == have.TCP) && (want.TCPFin == 0 || want.TCPFin == have.TCPFin) &&
		(want.UDP == 0 || want.UDP == have.UDP) {
		return nil
	}
	p.log.Info("ipvs: setting timeouts", "tcp", want.TCP, "tcpfin", want.TCPFin, "udp", want.UDP)
	return p.k.SetTimeouts(want)
}

// syncDaemonLocked runs the sync daemon lvs.cf asks for, as pulse did, and
// stops the one govs started when lvs.cf no longer asks.
func (p *Plane) syncDaemonLocked() error {
	var want *Daemon
	if p.global.SyncDaemon {
		iface := p.global.SyncdIface
		if iface == "" {
			iface = "eth0" // Piranha's default
		}
		want = &Daemon{State: p.syncState, Iface: iface, SyncID: uint32(max(0, p.global.SyncdID))}
	}
	if want == nil && p.started == nil {
		return nil
	}
	running, err := p.k.Daemons()
	if err != nil {
		return err
	}
	var errs []error
	for _, d := range running {
		stale := p.started != nil && d.State == p.started.State && (want == nil || *want != d)
		clash := want != nil && d.State == want.State && d != *want
		if stale || clash {
			if err := p.k.StopDaemon(d.State); err != nil {
				errs = append(errs, err)
			} else {
				p.log.Info("ipvs: sync daemon stopped", "state", d.State.String(), "iface", d.Iface, "syncid", d.SyncID)
			}
		}
	}
	p.started = nil
	if want != nil {
		if !containsDaemon(running, *want) {
			if err := p.k.StartDaemon(*want); err != nil {
				return errors.Join(append(errs, err)...)
			}
			p.log.Info("ipvs: sync daemon started", "state", want.State.String(), "iface", want.Iface, "syncid", want.SyncID)
		}
		p.started = want
	}
	return errors.Join(errs...)
}

func containsDaemon(list []Daemon, d Daemon) bool {
	for _, x := range list {
		if x == d {
			return true
		}
	}
	return false
}
