package ipvs

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/govs/govs/model"
	"github.com/govs/govs/table"
)

// Service flags as IPVS stores them (IP_VS_SVC_F_*). The kernel adds
// IP_VS_SVC_F_HASHED on its own, so comparisons mask with svcFlagsMask.
const (
	svcFlagPersistent uint32 = 0x0001
	svcFlagOnePacket  uint32 = 0x0004
	svcFlagSched1     uint32 = 0x0008
	svcFlagSched2     uint32 = 0x0010
	svcFlagSched3     uint32 = 0x0020
	svcFlagsMask             = svcFlagPersistent | svcFlagOnePacket | svcFlagSched1 | svcFlagSched2 | svcFlagSched3
)

// KService is a virtual service as the kernel holds it.
type KService struct {
	// Key is the service's identity, in the table's terms.
	Key model.ServiceKey
	// Scheduler is the scheduler's name (ipvsadm -s).
	Scheduler string
	// Flags are IP_VS_SVC_F_* bits: persistence, one-packet scheduling and
	// the three scheduler flags.
	Flags uint32
	// Timeout is the persistence timeout in seconds.
	Timeout uint32
	// PrefixLen is the persistence granularity as a prefix length.
	PrefixLen int
	// Stats are the kernel's cumulative counters and Rates its
	// estimator's rates (read only).
	Stats table.Stats
	Rates table.Rates
}

// KDest is a real server as the kernel holds it.
type KDest struct {
	Addr netip.Addr
	Port uint16
	// Forward is the forwarding method; a kernel-reported "local" method
	// reads as ForwardDefault.
	Forward model.Forward
	// Tunnel is the encapsulation of a tunnel-mode real server.
	Tunnel model.TunnelType
	Weight int
	// Upper and Lower are the connection thresholds (0: unset).
	Upper, Lower uint32
	// Active, Inactive and Persist are the kernel's connection counts and
	// Stats its cumulative counters (read only).
	Active, Inactive, Persist int
	Stats                     table.Stats
	Rates                     table.Rates
}

// Key returns the real server's address and port.
func (d KDest) Key() model.DestKey { return model.DestKey{Addr: d.Addr, Port: d.Port} }

// SyncState is the role of a connection synchronisation daemon.
type SyncState uint32

// Sync daemon roles, as IPVS numbers them (IP_VS_STATE_MASTER, _BACKUP).
const (
	SyncMaster SyncState = 1
	SyncBackup SyncState = 2
)

// String returns ipvsadm's name of the role.
func (s SyncState) String() string {
	switch s {
	case SyncMaster:
		return "master"
	case SyncBackup:
		return "backup"
	}
	return fmt.Sprintf("state(%d)", uint32(s))
}

// Daemon is a running connection synchronisation daemon.
type Daemon struct {
	State  SyncState
	Iface  string
	SyncID uint32
}

// Timeouts are IPVS's idle timeouts; zero leaves the kernel's value.
type Timeouts struct {
	TCP, TCPFin, UDP time.Duration
}

// Op is one change to the kernel's table, for batched application.
type Op struct {
	Kind    OpKind
	Service KService
	Dest    KDest
}

// OpKind says what an Op does.
type OpKind uint8

// Operation kinds.
const (
	OpAddService OpKind = iota + 1
	OpEditService
	OpDelService
	OpAddDest
	OpEditDest
	OpDelDest
	// OpZero zeroes a service's counters and rates, and its real
	// servers' (ipvsadm -Z -t|-u|-f).
	OpZero
)

// Kernel is what the plane needs of IPVS. The netlink implementation
// talks to the running kernel; tests substitute a fake. Methods are called
// from one goroutine at a time.
type Kernel interface {
	// Services lists every virtual service, govs's or not.
	Services() ([]KService, error)
	// Dests lists a service's real servers in the kernel's order.
	Dests(k model.ServiceKey) ([]KDest, error)
	// Apply carries out ops in order and returns how many succeeded
	// before the first failure. Implementations may batch them, in which
	// case changes after a failed one may have been made too: after an
	// error, callers read the kernel again.
	Apply(ops []Op) (int, error)
	// Timeouts returns the kernel's idle timeouts.
	Timeouts() (Timeouts, error)
	// SetTimeouts changes them; a zero field leaves that one alone.
	SetTimeouts(Timeouts) error
	// SetSysctl sets IPVS's sysctl net.ipv4.vs.NAME to value, in the
	// router's network namespace.
	SetSysctl(name, value string) error
	// Conns lists the kernel's connection entries and templates.
	Conns() ([]table.ConnStatus, error)
	// Daemons lists the running sync daemons.
	Daemons() ([]Daemon, error)
	// StartDaemon starts a sync daemon.
	StartDaemon(Daemon) error
	// StopDaemon stops the daemon of the given role.
	StopDaemon(SyncState) error
	// Close releases the kernel connection.
	Close() error
}

// ErrNoIPVS is returned by the netlink kernel when IPVS is not there.
var ErrNoIPVS = errors.New("the kernel has no IPVS (no ip_vs module loaded, no IPVS netlink family)")

func (o Op) String() string {
	switch o.Kind {
	case OpAddService:
		return "add service " + o.Service.Key.String()
	case OpEditService:
		return "edit service " + o.Service.Key.String()
	case OpDelService:
		return "delete service " + o.Service.Key.String()
	case OpAddDest:
		return fmt.Sprintf("add real server %s to %s (%s, weight %d)", o.Dest.Key(), o.Service.Key, fwdName(o.Dest.Forward), o.Dest.Weight)
	case OpEditDest:
		return fmt.Sprintf("edit real server %s of %s (%s, weight %d)", o.Dest.Key(), o.Service.Key, fwdName(o.Dest.Forward), o.Dest.Weight)
	case OpDelDest:
		return fmt.Sprintf("delete real server %s from %s", o.Dest.Key(), o.Service.Key)
	case OpZero:
		return "zero the counters of " + o.Service.Key.String()
	}
	return "unknown operation"
}

func fwdName(f model.Forward) string {
	if f == model.ForwardDefault {
		return "local"
	}
	return f.String()
}
