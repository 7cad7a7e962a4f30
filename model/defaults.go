package model

import "time"

// Defaults that Piranha's parser set and that a file may leave out. The
// model owns them, so that every package building a configuration outside
// the parser (the web tool's forms, the tests, the planes) starts where an
// empty lvs.cf starts.
const (
	DefaultHeartbeatPort = 539
	DefaultKeepalive     = 2 * time.Second
	DefaultDeadtime      = 5 * time.Second
	DefaultSyncdIface    = "eth0"
	DefaultRSHCommand    = "rsh"
	DefaultIPVSAdm       = "/sbin/ipvsadm"
	DefaultDebugLevel    = "NONE"
	DefaultDataplane     = "auto"

	DefaultPort      = 80
	DefaultScheduler = SchedWLC
	DefaultInterval  = 10 * time.Second
	DefaultReentry   = 180 * time.Second
	DefaultWeight    = 1
)

// DefaultGlobal returns the router-wide settings of a file that sets none:
// the starting point for a model built outside the parser, so that it
// writes and reads back unchanged.
func DefaultGlobal() Global {
	return Global{
		Service:       "lvs",
		HeartbeatPort: DefaultHeartbeatPort,
		Keepalive:     DefaultKeepalive,
		Deadtime:      DefaultDeadtime,
		Network:       ForwardNAT,
		SyncdIface:    DefaultSyncdIface,
		HardShutdown:  true,
		RSHCommand:    DefaultRSHCommand,
		IPVSAdm:       DefaultIPVSAdm,
		DebugLevel:    DefaultDebugLevel,
		Dataplane:     DefaultDataplane,
	}
}

// DefaultService returns a virtual service as an empty `virtual NAME {}`
// block defines it.
func DefaultService(name string) Service {
	return Service{
		Name:      name,
		Proto:     ProtoTCP,
		Port:      DefaultPort,
		Scheduler: DefaultScheduler,
		Check:     Check{Interval: DefaultInterval, Reentry: DefaultReentry},
	}
}

// DefaultRealServer returns a real server as an empty `server NAME {}`
// block defines it, apart from the port, which its service decides
// (DefaultServerPort) once the service's block is read to its end.
func DefaultRealServer(name string) RealServer {
	return RealServer{Name: name, Weight: DefaultWeight}
}

// DefaultServerPort is the port a real server of s has when its block
// names none: the virtual port, or for a firewall-mark service 0, which
// keeps the client's destination port (what a bundle of ports needs).
func (s *Service) DefaultServerPort() uint16 {
	if s.FWMark != 0 {
		return 0
	}
	return s.Port
}
