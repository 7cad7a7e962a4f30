package ipvs

import (
	"fmt"
	"github.com/govs/govs/table"
	"slices"
	"sync"

	"github.com/govs/govs/model"
)

// fakeKernel is an in-memory IPVS: it keeps services and their real servers
// as the kernel would and counts the changes made to it.
type fakeKernel struct {
	mu       sync.Mutex
	svcs     map[model.ServiceKey]*fakeSvc
	timeouts Timeouts
	daemons  []Daemon
	changes  []Op
	failAt   int // fail the Nth change from now (1-based); 0: never
	sysctls  map[string]string
}

func (f *fakeKernel) Conns() ([]table.ConnStatus, error) { return nil, nil }

func (f *fakeKernel) SetSysctl(name, value string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.sysctls == nil {
		f.sysctls = map[string]string{}
	}
	f.sysctls[name] = value
	return nil
}

// sysctl returns what the plane last set the sysctl name to.
func (f *fakeKernel) sysctl(name string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sysctls[name]
}

type fakeSvc struct {
	svc   KService
	dests []KDest
}

func newFakeKernel() *fakeKernel {
	return &fakeKernel{svcs: map[model.ServiceKey]*fakeSvc{},
		timeouts: Timeouts{TCP: 900e9, TCPFin: 120e9, UDP: 300e9}}
}

func (f *fakeKernel) Services() ([]KService, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []KService
	for _, s := range f.svcs {
		out = append(out, s.svc)
	}
	return out, nil
}

func (f *fakeKernel) Dests(k model.ServiceKey) ([]KDest, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.svcs[k]
	if !ok {
		return nil, fmt.Errorf("no service %s", k)
	}
	return slices.Clone(s.dests), nil
}

func (f *fakeKernel) Apply(ops []Op) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, op := range ops {
		if f.failAt > 0 {
			f.failAt--
			if f.failAt == 0 {
				return i, fmt.Errorf("injected failure at %s", op)
			}
		}
		if err := f.apply(op); err != nil {
			return i, err
		}
		f.changes = append(f.changes, op)
	}
	return len(ops), nil
}

func (f *fakeKernel) apply(op Op) error {
	k := op.Service.Key
	s, ok := f.svcs[k]
	if op.Kind != OpAddService && !ok {
		return fmt.Errorf("%s: no such service", op)
	}
	idx := -1
	if ok {
		idx = slices.IndexFunc(s.dests, func(d KDest) bool { return d.Key() == op.Dest.Key() })
	}
	switch op.Kind {
	case OpZero:
		s.svc.Stats = table.Stats{}
		for i := range s.dests {
			s.dests[i].Stats = table.Stats{}
		}
	case OpAddService:
		if ok {
			return fmt.Errorf("%s: exists", op)
		}
		f.svcs[k] = &fakeSvc{svc: op.Service}
	case OpEditService:
		s.svc = op.Service
	case OpDelService:
		delete(f.svcs, k)
	case OpAddDest:
		if idx >= 0 {
			return fmt.Errorf("%s: exists", op)
		}
		s.dests = append(s.dests, op.Dest)
	case OpEditDest:
		if idx < 0 {
			return fmt.Errorf("%s: no such real server", op)
		}
		d := op.Dest
		d.Active, d.Inactive, d.Persist, d.Stats = s.dests[idx].Active, s.dests[idx].Inactive, s.dests[idx].Persist, s.dests[idx].Stats
		s.dests[idx] = d
	case OpDelDest:
		if idx < 0 {
			return fmt.Errorf("%s: no such real server", op)
		}
		s.dests = slices.Delete(s.dests, idx, idx+1)
	}
	return nil
}

func (f *fakeKernel) Timeouts() (Timeouts, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.timeouts, nil
}

func (f *fakeKernel) SetTimeouts(t Timeouts) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t.TCP != 0 {
		f.timeouts.TCP = t.TCP
	}
	if t.TCPFin != 0 {
		f.timeouts.TCPFin = t.TCPFin
	}
	if t.UDP != 0 {
		f.timeouts.UDP = t.UDP
	}
	return nil
}

func (f *fakeKernel) Daemons() ([]Daemon, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.daemons), nil
}

func (f *fakeKernel) StartDaemon(d Daemon) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, x := range f.daemons {
		if x.State == d.State {
			return fmt.Errorf("%s daemon already running", d.State)
		}
	}
	f.daemons = append(f.daemons, d)
	return nil
}

func (f *fakeKernel) StopDaemon(s SyncState) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.daemons = slices.DeleteFunc(f.daemons, func(d Daemon) bool { return d.State == s })
	return nil
}

func (f *fakeKernel) Close() error { return nil }

// take returns and forgets the changes made so far.
func (f *fakeKernel) take() []Op {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.changes
	f.changes = nil
	return c
}

func (f *fakeKernel) service(k model.ServiceKey) *fakeSvc {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s, ok := f.svcs[k]; ok {
		cp := *s
		cp.dests = slices.Clone(s.dests)
		return &cp
	}
	return nil
}

// fakeMarker records the installed rules.
type fakeMarker struct {
	mu       sync.Mutex
	rules    []MarkRule
	installs int
	closed   bool
}

func (m *fakeMarker) Install(r []MarkRule) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rules = slices.Clone(r)
	m.installs++
	return nil
}

func (m *fakeMarker) Verify(r []MarkRule) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return equalRules(r, m.rules), nil
}

func (m *fakeMarker) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rules, m.closed = nil, true
	return nil
}

func (m *fakeMarker) get() []MarkRule {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.rules)
}
