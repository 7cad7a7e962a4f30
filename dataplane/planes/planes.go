// Package planes lists the data planes govs carries, in the order
// dataplane = auto tries them: the kernel's IPVS where this host can run
// it, else the userspace proxy, which runs anywhere. It is the one place
// that names the plane packages; the router and the command line reach
// them through dataplane.Registry.
package planes

import (
	"github.com/govs/govs/dataplane"
	"github.com/govs/govs/dataplane/ipvs"
	"github.com/govs/govs/dataplane/proxy"
)

// All returns the planes.
func All() dataplane.Registry {
	return dataplane.Registry{ipvs.Registration(), proxy.Registration()}
}
