package dataplane

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/govs/govs/model"
	"github.com/govs/govs/table"
)

// Registration is a data plane as the program offers it: what it can do,
// whether this host can run it, and how to build it. Each plane package
// has one (its Registration function); the program lists the planes it
// carries in a Registry, so that the router and the command line reach
// every plane the same way and never by its package.
type Registration struct {
	// Caps is what the plane can do (model.Capabilities.Name is its name).
	Caps model.Capabilities
	// Available says whether this host can run the plane, and if not why.
	Available func() (bool, string)
	// Schedulers, when set, says whether this host can run a scheduler
	// on the plane (a kernel module, say), and if not why.
	Schedulers func(model.Scheduler) (bool, string)
	// New builds the plane for the table.
	New func(t *table.Table, log *slog.Logger) (Plane, error)
}

// Registry is the planes a program carries, in the order dataplane = auto
// tries them: the first this host can run is taken.
type Registry []Registration

// Lookup finds a plane by name.
func (r Registry) Lookup(name string) (Registration, bool) {
	for _, reg := range r {
		if reg.Caps.Name == name {
			return reg, true
		}
	}
	return Registration{}, false
}

// Names lists the planes, for messages.
func (r Registry) Names() []string {
	out := make([]string, len(r))
	for i, reg := range r {
		out[i] = reg.Caps.Name
	}
	return out
}

// Choose resolves lvs.cf's dataplane keyword: a name, or "auto" (and "")
// for the first plane this host can run, with the reasons it passed the
// others over.
func (r Registry) Choose(name string) (Registration, string, error) {
	if name == "" || name == "auto" {
		var why []string
		for _, reg := range r {
			ok, reason := true, ""
			if reg.Available != nil {
				ok, reason = reg.Available()
			}
			if ok {
				return reg, strings.Join(why, "; "), nil
			}
			why = append(why, reg.Caps.Name+": "+reason)
		}
		return Registration{}, "", fmt.Errorf("dataplane auto: no plane can run here (%s)", strings.Join(why, "; "))
	}
	reg, ok := r.Lookup(name)
	if !ok {
		return Registration{}, "", fmt.Errorf("unknown dataplane %q (want %s or auto)", name, strings.Join(r.Names(), ", "))
	}
	if reg.Available != nil {
		if ok, why := reg.Available(); !ok {
			return Registration{}, "", fmt.Errorf("dataplane = %s: %s", name, why)
		}
	}
	return reg, "", nil
}

// Fallback is the plane dataplane = auto ends on when nothing before it
// can run (the last), which a file is checked against before any host
// decides.
func (r Registry) Fallback() Registration { return r[len(r)-1] }

// ForFile is the plane a file naming name (lvs.cf's dataplane) is held
// to before a host decides: the one it names, or for auto the plane auto
// falls back to, with a note of what the others need. ok is false for a
// name no plane has.
func (r Registry) ForFile(name string) (caps model.Capabilities, note string, ok bool) {
	if reg, found := r.Lookup(name); found {
		return reg.Caps, "", true
	}
	if name != "" && name != "auto" {
		return model.Capabilities{}, "", false
	}
	fb := r.Fallback()
	var needs []string
	for _, reg := range r {
		if reg.Caps.Name != fb.Caps.Name && reg.Caps.Needs != "" {
			needs = append(needs, reg.Caps.Needs)
		}
	}
	if len(needs) > 0 {
		note = "with dataplane = auto, govs run needs " + strings.Join(needs, " or ") + " for it"
	}
	return fb.Caps, note, true
}

// Zeroer is a plane that keeps counters of its own (the kernel's, which
// the table mirrors), which govs zero clears there too; the table's are
// cleared for every plane.
type Zeroer interface {
	// Zero zeroes the counters and rates of the services keys name.
	Zero(keys []model.ServiceKey) error
}

// KernelSync is a plane whose connection state the kernel synchronises
// itself, as IPVS's sync daemon does: the router tells it its role.
// Planes without it keep their state in package table, which package
// statesync carries to the backup router.
type KernelSync interface {
	SetSyncRole(master bool) error
}
