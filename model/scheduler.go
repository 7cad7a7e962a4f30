package model

import (
	"fmt"
	"strings"
)

// Scheduler names an IPVS scheduling algorithm, spelled as ipvsadm -s takes it.
type Scheduler string

// Every scheduler the Linux kernel ships.
const (
	SchedRR    Scheduler = "rr"
	SchedWRR   Scheduler = "wrr"
	SchedLC    Scheduler = "lc"
	SchedWLC   Scheduler = "wlc"
	SchedSED   Scheduler = "sed"
	SchedNQ    Scheduler = "nq"
	SchedLBLC  Scheduler = "lblc"
	SchedLBLCR Scheduler = "lblcr"
	SchedDH    Scheduler = "dh"
	SchedSH    Scheduler = "sh"
	SchedMH    Scheduler = "mh"
	SchedFO    Scheduler = "fo"
	SchedOVF   Scheduler = "ovf"
	SchedTWOS  Scheduler = "twos"
)

// Schedulers lists every known scheduler in a stable order.
var Schedulers = []Scheduler{SchedRR, SchedWRR, SchedLC, SchedWLC, SchedSED, SchedNQ,
	SchedLBLC, SchedLBLCR, SchedDH, SchedSH, SchedMH, SchedFO, SchedOVF, SchedTWOS}

// Valid reports whether s names a known scheduler.
func (s Scheduler) Valid() bool {
	for _, k := range Schedulers {
		if s == k {
			return true
		}
	}
	return false
}

// SchedFlags are the scheduler flags of ipvsadm -b. IPVS carries them as
// three generic bits whose meaning depends on the scheduler: sh-fallback and
// mh-fallback are bit 1, sh-port and mh-port bit 2.
type SchedFlags uint8

// Scheduler flags.
const (
	FlagFallback SchedFlags = 1 << iota // sh-fallback, mh-fallback (IP_VS_SVC_F_SCHED1)
	FlagPort                            // sh-port, mh-port (IP_VS_SVC_F_SCHED2)
	FlagSched3                          // flag-3 (IP_VS_SVC_F_SCHED3), unused by kernel schedulers
)

// Has reports whether all bits of f2 are set.
func (f SchedFlags) Has(f2 SchedFlags) bool { return f&f2 == f2 }

// Format renders the flags for scheduler s the way ipvsadm -b takes them,
// e.g. "sh-fallback,sh-port".
func (f SchedFlags) Format(s Scheduler) string {
	var out []string
	prefix := "flag-"
	if s == SchedSH || s == SchedMH {
		prefix = string(s) + "-"
	}
	if f.Has(FlagFallback) {
		if prefix == "flag-" {
			out = append(out, "flag-1")
		} else {
			out = append(out, prefix+"fallback")
		}
	}
	if f.Has(FlagPort) {
		if prefix == "flag-" {
			out = append(out, "flag-2")
		} else {
			out = append(out, prefix+"port")
		}
	}
	if f.Has(FlagSched3) {
		out = append(out, "flag-3")
	}
	return strings.Join(out, ",")
}

// ParseSchedFlags reads a comma-separated ipvsadm -b list such as
// "sh-fallback,sh-port" (also mh-*, flag-1..3).
func ParseSchedFlags(s string) (SchedFlags, error) {
	var f SchedFlags
	if strings.TrimSpace(s) == "" {
		return 0, nil
	}
	for _, p := range strings.Split(s, ",") {
		switch strings.ToLower(strings.TrimSpace(p)) {
		case "sh-fallback", "mh-fallback", "flag-1":
			f |= FlagFallback
		case "sh-port", "mh-port", "flag-2":
			f |= FlagPort
		case "flag-3":
			f |= FlagSched3
		default:
			return 0, fmt.Errorf("unknown scheduler flag %q", p)
		}
	}
	return f, nil
}
