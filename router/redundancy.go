package router

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/govs/govs/dataplane"
	"github.com/govs/govs/model"
	"github.com/govs/govs/statesync"
	"github.com/govs/govs/vrrp"
)

// Roles a router reports. Without redundancy (backup_active = 0) a router
// is simply active.
const (
	RoleActive = "active"
	RoleBackup = "backup"
	RoleFault  = "fault"
)

// Defaults of the VRRP keywords.
const (
	DefaultVRID            = 51
	DefaultPrimaryPriority = 150
	DefaultBackupPriority  = 100
)

// announcePace paces gratuitous ARPs and neighbour advertisements:
// send_arp's five, but 100 ms apart instead of a second, since a neighbour
// that missed the first should not wait seconds, and five more after five
// seconds, as keepalived's garp_master_delay, for switches and hosts that
// missed the first burst.
var announcePace = vrrp.Pace{Count: 5, Spacing: 100 * time.Millisecond, Repeat: 5 * time.Second}

// RedundancyStatus describes the router's place in its VRRP pair.
type RedundancyStatus struct {
	// Enabled is false for a lone router (backup_active = 0).
	Enabled bool `json:"enabled"`
	// Role is active, backup or fault.
	Role string `json:"role"`
	// Since is when the role last changed.
	Since time.Time `json:"since,omitzero"`
	// Local and Peer are this router's and its partner's addresses.
	Local netip.Addr `json:"local,omitzero"`
	Peer  netip.Addr `json:"peer,omitzero"`
	// Interface carries the adverts.
	Interface string `json:"interface,omitempty"`
	VRID      int    `json:"vrid,omitempty"`
	Priority  int    `json:"priority,omitempty"`
	Preempt   bool   `json:"preempt,omitempty"`
	// Master is the active router's address as last seen.
	Master netip.Addr `json:"master,omitzero"`
	// LastAdvert is when the last advert from the other router arrived,
	// from which address and with which priority.
	LastAdvert         time.Time  `json:"last_advert,omitzero"`
	LastAdvertFrom     netip.Addr `json:"last_advert_from,omitzero"`
	LastAdvertPriority int        `json:"last_advert_priority,omitempty"`
}

// redundancy runs VRRP for a router and does what a role change implies.
type redundancy struct {
	r     *Router
	log   *slog.Logger
	inst  *vrrp.Instance
	cfg   vrrp.Config
	iface string
	local netip.Addr // the primary/backup address, also state sync's
	peer  netip.Addr

	// ctx is run's, under which a term's announcer runs.
	ctx context.Context

	mu      sync.Mutex
	role    string
	owned   []vrrp.VIP // addresses we hold while active
	devices []string   // base devices monitor_links watches
	// term announces owned while active; nil otherwise.
	term *vrrp.Term
}

// vipsOf lists the addresses the active router holds: every active
// virtual service's VIP and, with network = nat, the NAT router address.
func vipsOf(cfg *model.Config) []vrrp.VIP {
	var out []vrrp.VIP
	seen := map[netip.Addr]bool{}
	add := func(a netip.Addr, bits int, dev string) {
		a = a.Unmap()
		if !a.IsValid() || a.IsUnspecified() || seen[a] || dev == "" {
			return
		}
		seen[a] = true
		if bits <= 0 || bits > a.BitLen() {
			bits = a.BitLen()
		}
		out = append(out, vrrp.VIP{Prefix: netip.PrefixFrom(a, bits), Device: dev})
	}
	for i := range cfg.Services {
		s := &cfg.Services[i]
		if s.Active {
			add(s.VIP, s.VIPPrefixLen, s.Device)
		}
	}
	if cfg.Global.NATRouter.IsValid() && (cfg.Global.Network == model.ForwardNAT || cfg.Global.Network == model.ForwardDefault) {
		add(cfg.Global.NATRouter, cfg.Global.NATPrefixLen, cfg.Global.NATRouterDev)
	}
	return out
}

// localInterface finds the interface holding one of addrs and which.
func localInterface(addrs ...netip.Addr) (string, netip.Addr, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return "", netip.Addr{}, err
	}
	for _, want := range addrs {
		for _, ifi := range ifs {
			as, _ := ifi.Addrs()
			for _, a := range as {
				if p, ok := a.(*net.IPNet); ok {
					if ip, _ := netip.AddrFromSlice(p.IP); ip.Unmap() == want.Unmap() && want.IsValid() {
						return ifi.Name, want, nil
					}
				}
			}
		}
	}
	return "", netip.Addr{}, fmt.Errorf("neither primary (%s) nor backup (%s) is an address of this host", addrs[0], addrs[1])
}

func linkLocalOf(ifname string) netip.Addr {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return netip.Addr{}
	}
	as, _ := ifi.Addrs()
	for _, a := range as {
		if p, ok := a.(*net.IPNet); ok {
			if ip, _ := netip.AddrFromSlice(p.IP); ip.Is6() && ip.IsLinkLocalUnicast() {
				return ip
			}
		}
	}
	return netip.Addr{}
}

// newRedundancy prepares VRRP for cfg; nil without backup_active.
func newRedundancy(r *Router, cfg *model.Config) (*redundancy, error) {
	gl := &cfg.Global
	if !gl.BackupActive {
		return nil, nil
	}
	if !gl.Primary.IsValid() || !gl.Backup.IsValid() {
		return nil, errors.New("backup_active = 1 needs both primary and backup addresses")
	}
	ifname, local, err := localInterface(gl.Primary, gl.Backup)
	if err != nil {
		return nil, err
	}
	d := &redundancy{r: r, log: r.log, iface: ifname, local: local, role: RoleBackup}
	d.peer = gl.Backup
	prio := DefaultPrimaryPriority
	if local == gl.Backup.Unmap() {
		d.peer, prio = gl.Primary, DefaultBackupPriority
	}
	if gl.VRRPPriority != 0 {
		prio = gl.VRRPPriority
	}
	if gl.VRRPInterface != "" {
		d.iface = gl.VRRPInterface
	}
	vrid := gl.VRRPVRID
	if vrid == 0 {
		vrid = DefaultVRID
	}
	interval, down := gl.VRRPAdvert, time.Duration(0)
	if interval == 0 {
		// keepalive and deadtime in seconds, as pulse took them.
		interval, down = gl.Keepalive, gl.Deadtime
		if interval <= 0 {
			interval = 2 * time.Second
		}
	}
	src := local
	if local.Is6() && len(gl.VRRPUnicastPeers) == 0 {
		// RFC 5798 §5.1.2.1: IPv6 adverts come from the link-local address.
		if ll := linkLocalOf(d.iface); ll.IsValid() {
			src = ll
		}
	}
	d.cfg = vrrp.Config{VRID: uint8(vrid), Priority: uint8(prio), Interval: interval, DownInterval: down,
		Preempt: gl.VRRPPreempt, Local: src, Peers: gl.VRRPUnicastPeers}
	d.setVIPs(cfg)
	return d, nil
}

// setVIPs takes the addresses and monitored devices from cfg.
func (d *redundancy) setVIPs(cfg *model.Config) {
	vips := vipsOf(cfg)
	var fam []netip.Addr
	devs := []string{d.iface}
	for _, v := range vips {
		if v.Prefix.Addr().Is4() == d.cfg.Local.Is4() {
			fam = append(fam, v.Prefix.Addr())
		}
		if b := vrrp.BaseDevice(v.Device); !slices.Contains(devs, b) {
			devs = append(devs, b)
		}
	}
	d.cfg.Addrs = fam
	d.mu.Lock()
	d.devices = devs
	d.mu.Unlock()
}

// run runs VRRP, state sync and the link monitor until ctx is done, and
// leaves the addresses released.
func (d *redundancy) run(ctx context.Context) error {
	// Every router starts as backup, as under pulse, which also ran
	// inactive_cmd and put the IPVS sync daemon in backup at start; one
	// starting after a crash may still hold the addresses.
	d.mu.Lock()
	d.release(vipsOf(d.r.cfg.Load()), "startup")
	d.mu.Unlock()
	d.setSync(false)
	runCmd(d.log, "inactive_cmd", d.r.cfg.Load().Global.InactiveCmd)
	nw, err := vrrp.ListenIP(d.iface, d.cfg.Local, d.cfg.Peers)
	if err != nil {
		return err
	}
	d.ctx = ctx
	d.inst = vrrp.NewInstance(d.cfg, nw, vrrp.Options{Logger: d.log, OnChange: d.changed, OnReannounce: d.reannounce})
	d.log.Info("vrrp: starting", "interface", d.iface, "local", d.local.String(), "peer", d.peer.String(),
		"vrid", d.cfg.VRID, "priority", d.cfg.Priority, "interval", d.cfg.Interval, "preempt", d.cfg.Preempt)
	var wg sync.WaitGroup
	// A plane whose kernel does not synchronise connections has them in
	// the table, which state sync carries to the backup.
	if _, kernel := d.r.plane.(dataplane.KernelSync); !kernel {
		wg.Go(func() {
			gl := d.r.cfg.Load().Global
			err := statesync.Run(ctx, statesync.Options{Table: d.r.table, Local: d.local, Peer: d.peer,
				Port: gl.StateSyncPort, Logger: d.log, Active: func() bool { return d.Role() == RoleActive }})
			if err != nil {
				d.log.Error("state sync stopped", "error", err.Error())
			}
		})
	}
	if d.r.cfg.Load().Global.MonitorLinks {
		wg.Go(func() { d.monitorLinks(ctx) })
	}
	err = d.inst.Run(ctx)
	wg.Wait()
	d.mu.Lock()
	d.term.End()
	d.term = nil
	d.release(d.owned, "stopping")
	d.mu.Unlock()
	return err
}

// monitorLinks polls the links the router depends on: any down is a
// fault (monitor_links = 1), as pulse's LINKFAIL.
func (d *redundancy) monitorLinks(ctx context.Context) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	wasDown := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		d.mu.Lock()
		devs := d.devices
		d.mu.Unlock()
		down := false
		for _, dev := range devs {
			if up, err := vrrp.LinkUp(dev); err == nil && !up {
				down = true
			}
		}
		if down != wasDown {
			d.log.Warn("monitor_links: local link state changed", "down", down)
			d.inst.SetLinkDown(down)
			wasDown = down
		}
	}
}

// changed does what a VRRP state change means for the router.
func (d *redundancy) changed(from, to vrrp.State, why string) {
	role := RoleBackup
	switch to {
	case vrrp.Master:
		role = RoleActive
	case vrrp.Fault:
		role = RoleFault
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	was := d.role
	d.role = role
	if was == role {
		return
	}
	d.log.Info("router role changed", "from", was, "to", role, "why", why)
	// Whatever the old role started ends before the new role acts: a
	// router that lost the role must not go on announcing the addresses.
	d.term.End()
	d.term = nil
	cfg := d.r.cfg.Load()
	if role == RoleActive {
		pace := announcePace
		pace.Hold = d.inst.Busy
		d.term = vrrp.StartTerm(d.ctx, vrrp.NewLink(), pace, d.log)
		d.take(vipsOf(cfg))
		d.setSync(true)
		runCmd(d.log, "active_cmd", cfg.Global.ActiveCmd)
		return
	}
	if was == RoleActive {
		d.release(d.owned, "now "+role)
		d.setSync(false)
		runCmd(d.log, "inactive_cmd", cfg.Global.InactiveCmd)
	}
}

// take adds vips and announces them; called with d.mu held.
func (d *redundancy) take(vips []vrrp.VIP) {
	if err := vrrp.AddAddrs(vips); err != nil {
		d.log.Error("bringing up the virtual addresses", "error", err.Error())
	}
	for _, v := range vips {
		if !slices.Contains(d.owned, v) {
			d.owned = append(d.owned, v)
		}
	}
	d.term.Announce(vips...)
	d.log.Info("virtual addresses up", "count", len(vips))
}

// reannounce follows a clash that this router won: the LAN may have
// followed the other master's announcements.
func (d *redundancy) reannounce() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.role == RoleActive {
		d.term.Announce(d.owned...)
	}
}

// release removes vips; called with d.mu held.
func (d *redundancy) release(vips []vrrp.VIP, why string) {
	if err := vrrp.RemoveAddrs(vips); err != nil {
		d.log.Warn("removing the virtual addresses", "why", why, "error", err.Error())
	}
	d.owned = slices.DeleteFunc(d.owned, func(v vrrp.VIP) bool { return slices.Contains(vips, v) })
}

// setSync tells a plane whose kernel synchronises connections its role.
func (d *redundancy) setSync(master bool) {
	if p, ok := d.r.plane.(dataplane.KernelSync); ok {
		if err := p.SetSyncRole(master); err != nil {
			d.log.Warn("kernel sync daemon", "master", master, "error", err.Error())
		}
	}
}

// reconfigured follows a reload: an active router takes new addresses and
// drops removed ones.
func (d *redundancy) reconfigured(cfg *model.Config) {
	vips := vipsOf(cfg)
	d.mu.Lock()
	defer d.mu.Unlock()
	var devs []string
	devs = append(devs, d.iface)
	for _, v := range vips {
		if b := vrrp.BaseDevice(v.Device); !slices.Contains(devs, b) {
			devs = append(devs, b)
		}
	}
	d.devices = devs
	if d.role != RoleActive {
		return
	}
	var gone, added []vrrp.VIP
	for _, v := range d.owned {
		if !slices.Contains(vips, v) {
			gone = append(gone, v)
		}
	}
	for _, v := range vips {
		if !slices.Contains(d.owned, v) {
			added = append(added, v)
		}
	}
	if len(gone) > 0 {
		d.release(gone, "removed from the configuration")
	}
	if len(added) > 0 {
		d.take(added)
	}
}

// Role returns the current role.
func (d *redundancy) Role() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.role
}

func (d *redundancy) status() RedundancyStatus {
	st := RedundancyStatus{Enabled: true, Role: d.Role(), Local: d.local, Peer: d.peer, Interface: d.iface,
		VRID: int(d.cfg.VRID), Priority: int(d.cfg.Priority), Preempt: d.cfg.Preempt}
	if d.inst != nil {
		vs := d.inst.Status()
		st.Since, st.Master = vs.Since, vs.Master
		st.LastAdvert, st.LastAdvertFrom, st.LastAdvertPriority = vs.LastAdvert, vs.LastFrom, int(vs.LastPriority)
	}
	return st
}

// runCmd starts active_cmd or inactive_cmd: split on spaces and run
// without a shell, as pulse did, and not waited for, so that a slow script
// never delays taking over.
func runCmd(log *slog.Logger, what, cmd string) {
	args := strings.Fields(cmd)
	if len(args) == 0 {
		return
	}
	c := exec.Command(args[0], args[1:]...)
	if err := c.Start(); err != nil {
		log.Error("running "+what, "command", cmd, "error", err.Error())
		return
	}
	log.Info("started "+what, "command", cmd, "pid", c.Process.Pid)
	go func() { _ = c.Wait() }()
}
