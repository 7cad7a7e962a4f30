package table

import (
	"net/netip"

	"github.com/govs/govs/model"
)

// Packet is what a scheduler sees of a new connection: its protocol and the
// client (source) and virtual (destination) endpoints.
type Packet struct {
	Proto model.Proto
	Src   netip.AddrPort
	Dst   netip.AddrPort
}

// Scheduler picks a real server for a new connection. Implementations live
// in package scheduler; the table only holds them. Schedule is called from
// many goroutines at once, and concurrently with Update.
type Scheduler interface {
	// Name returns the scheduler's ipvsadm name.
	Name() model.Scheduler
	// Update hands the scheduler the service's destination list, in
	// configuration order, whenever a destination is added, removed or has
	// its weight changed (the kernel's update_service). The slice is not
	// modified afterwards.
	Update(dests []*Dest)
	// Schedule returns the destination for p, or nil if none is eligible.
	Schedule(p *Packet) *Dest
}

// NewSchedulerFunc constructs a scheduler by name with its flags.
type NewSchedulerFunc func(name model.Scheduler, flags model.SchedFlags) (Scheduler, error)
