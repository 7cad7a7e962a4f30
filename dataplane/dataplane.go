// Package dataplane defines what a data plane is to the router: the part
// that makes the network carry what the virtual server table says. The
// userspace proxy (dataplane/proxy) and the kernel's IPVS (dataplane/ipvs)
// implement it; the model, schedulers, persistence and health state are
// shared by all of them through package table.
//
// The contract has three parts. A plane declares what it can do once, as
// a model.Capabilities (forwarding methods, address families, PROXY
// protocol, connection bounds), which config.CheckPlane holds every
// configuration against, for govs check, govs run and every edit alike.
// What only some planes do is an optional interface (ConnLister,
// SocketBudget, KernelSync). And each plane offers itself as a
// Registration; dataplane/planes lists them in a Registry, through which
// the program chooses a plane (dataplane = auto included) and builds it,
// so that no code outside the planes asks for one by name.
package dataplane

import (
	"context"

	"github.com/govs/govs/model"
	"github.com/govs/govs/table"
)

// Plane is a data plane.
//
// A configuration change is two-phase so that a reload which the plane
// cannot carry out (a port already taken, say) changes nothing: Prepare
// acquires what the new configuration needs beside what is running, the
// router then applies the configuration to the table, and Commit switches
// over (or Abort releases what Prepare took).
type Plane interface {
	// Name returns the plane's name as lvs.cf's dataplane keyword spells it.
	Name() string
	// Capabilities is what the plane can do; config.CheckPlane holds a
	// configuration against it.
	Capabilities() model.Capabilities
	// Prepare readies cfg without disturbing what runs.
	Prepare(ctx context.Context, cfg *model.Config) (Txn, error)
	// Close stops taking new connections, lets open ones finish until ctx
	// is done, then ends the rest and releases everything.
	Close(ctx context.Context) error
}

// Txn is a prepared configuration change.
type Txn interface {
	// Commit makes the prepared configuration the running one: services
	// that did not change keep their listeners and connections, removed ones
	// stop accepting and drain.
	Commit() error
	// Abort releases what Prepare acquired; the running configuration
	// stays.
	Abort()
}

// ConnLister is a plane that holds the connection table itself, as the
// kernel plane's IPVS does; listings (govs list -c) read it rather than
// package table's, which holds only what a userspace plane proxies.
type ConnLister interface {
	// Conns lists connection entries and persistence templates.
	Conns() ([]table.ConnStatus, error)
}

// Sockets is a userspace plane's budget of traffic sockets (see
// SocketBudget).
type Sockets struct {
	// Limit is the most sockets traffic may hold; TCPLimit and UDPLimit
	// bound each protocol's share.
	Limit    int `json:"limit"`
	TCPLimit int `json:"tcp_limit"`
	UDPLimit int `json:"udp_limit"`
	// InUse is what traffic holds now: TCP (two a connection) and UDP
	// (one a flow).
	InUse int `json:"in_use"`
	TCP   int `json:"tcp"`
	UDP   int `json:"udp"`
	// RefusedTCP and RefusedUDP count the connections and flows refused
	// because the budget was spent.
	RefusedTCP uint64 `json:"refused_tcp"`
	RefusedUDP uint64 `json:"refused_udp"`
	// DroppedUDP counts the datagrams the kernel dropped because a UDP
	// service socket's receive buffer was full: lost before the plane
	// read them, as on the kernel plane when a CPU's backlog overflows.
	DroppedUDP uint64 `json:"dropped_udp"`
	// MaxConns is lvs.cf's global max_conns (0: none); Conns the
	// connections and flows it counts now.
	MaxConns int `json:"max_conns,omitempty"`
	Conns    int `json:"conns"`
}

// SocketBudget is a plane that holds a socket per connection side and per
// UDP flow, and so bounds them to keep descriptors for the rest of the
// router.
type SocketBudget interface {
	Sockets() Sockets
}
