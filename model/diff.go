package model

import (
	"fmt"
	"reflect"
	"strings"
)

// Change is what a configuration changes of the one before it, counted as
// an operator reads a reload: services and real servers by their keys (a
// renamed one is changed, not replaced), weights apart from the rest.
type Change struct {
	FromSerial, ToSerial                                            int
	ServicesAdded, ServicesRemoved, ServicesChanged                 int
	ServersAdded, ServersRemoved, ServersReweighted, ServersChanged int
	// Global says the router-wide settings changed (serial_no aside).
	Global bool
}

// Diff counts what to changes of from.
func Diff(from, to *Config) Change {
	ch := Change{FromSerial: from.Global.SerialNo, ToSerial: to.Global.SerialNo}
	g1, g2 := from.Global, to.Global
	g1.SerialNo, g2.SerialNo = 0, 0
	ch.Global = !reflect.DeepEqual(g1, g2)
	old := map[ServiceKey]*Service{}
	for i := range from.Services {
		old[from.Services[i].Key()] = &from.Services[i]
	}
	for i := range to.Services {
		s := &to.Services[i]
		o, ok := old[s.Key()]
		if !ok {
			ch.ServicesAdded++
			ch.ServersAdded += len(s.RealServers)
			continue
		}
		delete(old, s.Key())
		a, b := *o, *s
		a.RealServers, b.RealServers = nil, nil
		if !reflect.DeepEqual(a, b) {
			ch.ServicesChanged++
		}
		ch.servers(o.RealServers, s.RealServers)
	}
	for _, o := range old {
		ch.ServicesRemoved++
		ch.ServersRemoved += len(o.RealServers)
	}
	return ch
}

func (ch *Change) servers(from, to []RealServer) {
	old := map[DestKey]*RealServer{}
	for i := range from {
		old[from[i].Key()] = &from[i]
	}
	for i := range to {
		r := &to[i]
		o, ok := old[r.Key()]
		if !ok {
			ch.ServersAdded++
			continue
		}
		delete(old, r.Key())
		a := *o
		if a.Weight != r.Weight {
			ch.ServersReweighted++
			a.Weight = r.Weight
		}
		if a != *r {
			ch.ServersChanged++
		}
	}
	ch.ServersRemoved += len(old)
}

// String tells the change as govs reload prints it: "serial_no 7 → 8:
// +1 service, 2 real servers reweighted".
func (ch Change) String() string {
	var parts []string
	count := func(n int, format, one, many string) {
		if n == 0 {
			return
		}
		noun := many
		if n == 1 {
			noun = one
		}
		parts = append(parts, fmt.Sprintf(format, n, noun))
	}
	count(ch.ServicesAdded, "+%d %s", "service", "services")
	count(ch.ServicesRemoved, "-%d %s", "service", "services")
	count(ch.ServicesChanged, "%d %s changed", "service", "services")
	count(ch.ServersAdded, "+%d %s", "real server", "real servers")
	count(ch.ServersRemoved, "-%d %s", "real server", "real servers")
	count(ch.ServersReweighted, "%d %s reweighted", "real server", "real servers")
	count(ch.ServersChanged, "%d %s changed", "real server", "real servers")
	if ch.Global {
		parts = append(parts, "global settings changed")
	}
	if len(parts) == 0 {
		parts = []string{"no change"}
	}
	return fmt.Sprintf("serial_no %d → %d: %s", ch.FromSerial, ch.ToSerial, strings.Join(parts, ", "))
}
