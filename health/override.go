package health

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/govs/govs/model"
)

// Action is an operator override of health results: nanny's SIGUSR1
// (force down) and SIGUSR2 (force up), with drain added.
type Action uint8

// Override actions.
const (
	// Clear returns the real servers to health-check control (nanny's
	// SIGHUP: resume normal monitoring).
	Clear Action = iota
	// Disable takes the real servers out (table.StateDisabled) whatever
	// the checks say; existing connections finish.
	Disable
	// Enable keeps the real servers in at their configured weight whatever
	// the checks and the agent say, for when a check is wrong and the
	// operator knows better.
	Enable
	// Drain keeps existing connections and persistent clients' open flows
	// but sends no new ones (table.StateDraining).
	Drain
)

var actionNames = [...]string{"clear", "disable", "enable", "drain"}

// String returns the action's lower-case name.
func (a Action) String() string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return fmt.Sprintf("action(%d)", uint8(a))
}

// ParseAction reads an action name: clear, disable, enable or drain.
func ParseAction(s string) (Action, error) {
	for i, n := range actionNames {
		if strings.EqualFold(s, n) {
			return Action(i), nil
		}
	}
	return 0, fmt.Errorf("unknown override action %q (want disable, enable, drain or clear)", s)
}

// MarshalText renders the action's name, for JSON.
func (a Action) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText reads an action's name.
func (a *Action) UnmarshalText(b []byte) error {
	v, err := ParseAction(string(b))
	if err == nil {
		*a = v
	}
	return err
}

// ErrNoMatch is returned by Override when no configured real server
// matches the target.
var ErrNoMatch = errors.New("no configured real server matches")

// override is one stored operator override.
type override struct {
	target model.DestKey // port 0: any port
	svc    model.ServiceKey
	anySvc bool
	action Action
	since  time.Time
	seq    uint64
}

func (o *override) matches(k bindKey) bool {
	return o.target.Addr == k.dest.Addr && (o.target.Port == 0 || o.target.Port == k.dest.Port) &&
		(o.anySvc || o.svc == k.svc)
}

// specificity ranks overlapping overrides: one naming a service beats one
// for all services, one naming a port beats one for any port.
func (o *override) specificity() int {
	s := 0
	if !o.anySvc {
		s += 2
	}
	if o.target.Port != 0 {
		s++
	}
	return s
}

// covers reports whether o's scope includes all of p's.
func (o *override) covers(p *override) bool {
	return o.target.Addr == p.target.Addr && (o.target.Port == 0 || o.target.Port == p.target.Port) &&
		(o.anySvc || (!p.anySvc && o.svc == p.svc))
}

// overrideFor returns the override that governs k: the most specific
// matching one, the latest among equals. A Clear entry means "follow the
// checks" and yields nil.
func (m *Manager) overrideFor(k bindKey) *override {
	var best *override
	for _, o := range m.overrides {
		if !o.matches(k) {
			continue
		}
		if best == nil || o.specificity() > best.specificity() ||
			(o.specificity() == best.specificity() && o.seq > best.seq) {
			best = o
		}
	}
	if best == nil || best.action == Clear {
		return nil
	}
	return best
}

// Override forces the state of the real servers at target (port 0: any
// port) in service svc (nil: every service), or with Clear returns them to
// the checks. Overrides win over health and agent results, outlive
// reloads until cleared, and apply to services added later that name the
// same target. The most specific override governs a server: a
// per-service one beats an all-services one, a per-port one beats an
// any-port one. Clear removes the overrides within its scope.
//
// It returns how many (service, real server) pairs of the current
// configuration the override governs, and ErrNoMatch (storing nothing)
// when there are none, so that a mistyped address is reported rather than
// remembered. A Clear that matches no server but removes stored overrides
// succeeds.
func (m *Manager) Override(target model.DestKey, svc *model.ServiceKey, action Action) (int, error) {
	if int(action) >= len(actionNames) {
		return 0, fmt.Errorf("unknown override action %d", action)
	}
	if !target.Addr.IsValid() {
		return 0, errors.New("override needs a real server address")
	}
	target.Addr = target.Addr.Unmap()
	o := &override{target: target, anySvc: svc == nil, action: action, since: m.clock.Now()}
	if svc != nil {
		o.svc = *svc
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	matched := 0
	for k := range m.binds {
		if o.matches(k) {
			matched++
		}
	}
	before := len(m.overrides)
	kept := m.overrides[:0]
	for _, x := range m.overrides {
		if !o.covers(x) {
			kept = append(kept, x)
		}
	}
	clear(m.overrides[len(kept):])
	m.overrides = kept
	removed := before - len(kept)
	if action != Clear && matched == 0 {
		return 0, fmt.Errorf("%w %s", ErrNoMatch, describeScope(target, svc))
	}
	if action == Clear && matched == 0 && removed == 0 {
		return 0, fmt.Errorf("%w %s", ErrNoMatch, describeScope(target, svc))
	}
	// A Clear inside the scope of a broader override that remains must
	// still win there: record it as an explicit "follow the checks".
	if action != Clear || slices.ContainsFunc(m.overrides, func(x *override) bool { return x.covers(o) }) {
		m.seq++
		o.seq = m.seq
		m.overrides = append(m.overrides, o)
	}
	line := fmt.Sprintf("%s %s by operator", describeScope(target, svc), pastTense(action))
	m.log.Info(line, "target", target.String(), "action", action.String(), "servers", matched)
	why := ""
	if action == Clear {
		why = "override cleared"
	}
	m.pushAll(o.matches, why)
	return matched, nil
}

func pastTense(a Action) string {
	switch a {
	case Disable:
		return "disabled"
	case Enable:
		return "enabled"
	case Drain:
		return "drained"
	}
	return "returned to health checks"
}

func describeScope(target model.DestKey, svc *model.ServiceKey) string {
	s := target.Addr.String()
	if target.Port != 0 {
		s = target.String()
	}
	if svc != nil {
		s += " in " + svc.String()
	}
	return s
}

// OverrideStatus is a stored operator override.
type OverrideStatus struct {
	// Target is the real server's address; Port 0 means any port.
	Target model.DestKey `json:"target"`
	// Service is the service the override is limited to; nil for all.
	Service *model.ServiceKey `json:"service,omitempty"`
	// Action is what the override does.
	Action Action `json:"action"`
	// Since is when the operator set it.
	Since time.Time `json:"since"`
	// Matched is how many (service, real server) pairs of the current
	// configuration it matches.
	Matched int `json:"matched"`
}

// Overrides lists the stored overrides, oldest first.
func (m *Manager) Overrides() []OverrideStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]OverrideStatus, 0, len(m.overrides))
	for _, o := range m.overrides {
		st := OverrideStatus{Target: o.target, Action: o.action, Since: o.since}
		if !o.anySvc {
			k := o.svc
			st.Service = &k
		}
		for k := range m.binds {
			if o.matches(k) {
				st.Matched++
			}
		}
		out = append(out, st)
	}
	return out
}
