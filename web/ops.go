package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/govs/govs/config"
	"github.com/govs/govs/health"
	"github.com/govs/govs/model"
	"github.com/govs/govs/router"
)

// errNotFound is an edit of a virtual or real server that does not exist.
var errNotFound = errors.New("not found")

// fieldAbort stops an Apply whose input did not parse; nothing is written.
type fieldAbort struct{ errs FieldErrors }

// Error says the input was refused; the fields carry why.
func (f *fieldAbort) Error() string { return "invalid input" }

// result is the outcome of a change: field errors to show next to their
// inputs, or the reason the router refused it.
type result struct {
	Fields   FieldErrors
	NotFound bool
	// Refused is set when a valid file was written but the reload failed
	// (the previous file has been put back).
	Refused bool
}

func (r result) ok() bool { return len(r.Fields) == 0 && !r.NotFound }

// status is the HTTP status of a change that failed: 404 for what does
// not exist, 409 for what the router refused, 400 for bad input.
func (r result) status() int {
	switch {
	case r.NotFound:
		return http.StatusNotFound
	case r.Refused:
		return http.StatusConflict
	}
	return http.StatusBadRequest
}

// change runs one edit through router.Apply and sorts its failure out.
func (s *Server) change(ctx context.Context, keys []string, edit func(*model.Config) error) result {
	_, err := s.r.Apply(ctx, edit)
	return outcome(err, keys)
}

// outcome sorts out why a change failed, if it did.
func outcome(err error, keys []string) result {
	if err == nil {
		return result{}
	}
	var fa *fieldAbort
	switch {
	case errors.As(err, &fa):
		return result{Fields: fa.errs}
	case errors.Is(err, errNotFound), errors.Is(err, config.ErrNoRevision):
		return result{NotFound: true, Fields: FieldErrors{"": err.Error()}}
	case errors.Is(err, router.ErrInvalid):
		var list config.ErrorList
		if errors.As(err, &list) {
			return result{Fields: validationErrors(list, keys)}
		}
		return result{Fields: FieldErrors{"": err.Error()}}
	}
	return result{Refused: true, Fields: FieldErrors{"": "the router refused the change, and the previous lvs.cf was restored: " + err.Error()}}
}

func findService(c *model.Config, name string) (int, error) {
	for i := range c.Services {
		if c.Services[i].Name == name {
			return i, nil
		}
	}
	return -1, fmt.Errorf("no virtual server named %q: %w", name, errNotFound)
}

func findServer(s *model.Service, name string) (int, error) {
	for i := range s.RealServers {
		if s.RealServers[i].Name == name {
			return i, nil
		}
	}
	return -1, fmt.Errorf("virtual server %q has no real server named %q: %w", s.Name, name, errNotFound)
}

// required refuses a new block whose fields leave out a keyword it
// cannot do without (its address).
func required(f Fields, errs FieldErrors, what, page string) {
	for _, k := range config.OnPage(page) {
		if _, ok := f[k.Name]; k.Required && !ok {
			errs.add(k.Name, fmt.Sprintf("%s needs an %s", what, k.Name))
		}
	}
}

func abortIf(errs FieldErrors) error {
	if len(errs) > 0 {
		return &fieldAbort{errs}
	}
	return nil
}

func allGlobalKeys() []string {
	return append(append([]string{}, GlobalKeys...), RedundancyKeys...)
}

func allServiceKeys() []string { return ServiceKeys }

func (s *Server) editGlobal(ctx context.Context, f Fields) result {
	return s.change(ctx, allGlobalKeys(), func(c *model.Config) error {
		return abortIf(EditGlobal(&c.Global, f))
	})
}

func (s *Server) addService(ctx context.Context, f Fields) result {
	return s.change(ctx, allServiceKeys(), func(c *model.Config) error {
		svc := model.DefaultService(f["name"])
		errs := EditService(&svc, f)
		if _, err := findService(c, svc.Name); err == nil {
			errs.add("name", fmt.Sprintf("a virtual server named %q exists", svc.Name))
		}
		required(f, errs, "a virtual server", config.PageVirtual)
		if err := abortIf(errs); err != nil {
			return err
		}
		c.Services = append(c.Services, svc)
		return nil
	})
}

func (s *Server) editService(ctx context.Context, name string, f Fields) result {
	return s.change(ctx, allServiceKeys(), func(c *model.Config) error {
		i, err := findService(c, name)
		if err != nil {
			return err
		}
		svc := &c.Services[i]
		oldPort, wasMark := svc.Port, svc.FWMark != 0
		errs := EditService(svc, f)
		if n, ok := f["name"]; ok && n != name {
			if _, err := findService(c, n); err == nil {
				errs.add("name", fmt.Sprintf("a virtual server named %q exists", n))
			}
		}
		// Real servers that followed the virtual port keep following it.
		for j := range svc.RealServers {
			rs := &svc.RealServers[j]
			if !wasMark && rs.Port == oldPort && svc.FWMark == 0 {
				rs.Port = svc.Port
			}
		}
		return abortIf(errs)
	})
}

func (s *Server) deleteService(ctx context.Context, name string) result {
	return s.change(ctx, nil, func(c *model.Config) error {
		i, err := findService(c, name)
		if err != nil {
			return err
		}
		c.Services = append(c.Services[:i], c.Services[i+1:]...)
		return nil
	})
}

func (s *Server) setServiceActive(ctx context.Context, name string, on bool) result {
	return s.change(ctx, nil, func(c *model.Config) error {
		i, err := findService(c, name)
		if err != nil {
			return err
		}
		c.Services[i].Active = on
		return nil
	})
}

func (s *Server) addServer(ctx context.Context, svcName string, f Fields) result {
	return s.change(ctx, ServerKeys, func(c *model.Config) error {
		i, err := findService(c, svcName)
		if err != nil {
			return err
		}
		svc := &c.Services[i]
		rs := model.DefaultRealServer(f["name"])
		if svc.FWMark == 0 {
			rs.Port = svc.Port
		}
		errs := EditServer(svc, &rs, f)
		if _, err := findServer(svc, rs.Name); err == nil {
			errs.add("name", fmt.Sprintf("a real server named %q exists", rs.Name))
		}
		required(f, errs, "a real server", config.PageServer)
		if err := abortIf(errs); err != nil {
			return err
		}
		svc.RealServers = append(svc.RealServers, rs)
		return nil
	})
}

func (s *Server) editServer(ctx context.Context, svcName, srvName string, f Fields) result {
	return s.change(ctx, ServerKeys, func(c *model.Config) error {
		i, err := findService(c, svcName)
		if err != nil {
			return err
		}
		svc := &c.Services[i]
		j, err := findServer(svc, srvName)
		if err != nil {
			return err
		}
		errs := EditServer(svc, &svc.RealServers[j], f)
		if n, ok := f["name"]; ok && n != srvName {
			if _, err := findServer(svc, n); err == nil {
				errs.add("name", fmt.Sprintf("a real server named %q exists", n))
			}
		}
		return abortIf(errs)
	})
}

func (s *Server) deleteServer(ctx context.Context, svcName, srvName string) result {
	return s.change(ctx, nil, func(c *model.Config) error {
		i, err := findService(c, svcName)
		if err != nil {
			return err
		}
		svc := &c.Services[i]
		j, err := findServer(svc, srvName)
		if err != nil {
			return err
		}
		svc.RealServers = append(svc.RealServers[:j], svc.RealServers[j+1:]...)
		return nil
	})
}

// override sets an operator override (enable, disable, drain, clear) on one
// real server of one service; it is runtime state, not lvs.cf, as with
// govs realserver.
func (s *Server) override(svcName, srvName, action string) (int, result) {
	a, err := health.ParseAction(action)
	if err != nil {
		return 0, result{Fields: FieldErrors{"action": err.Error()}}
	}
	c := s.r.Config()
	i, err := findService(c, svcName)
	if err != nil {
		return 0, result{NotFound: true, Fields: FieldErrors{"": err.Error()}}
	}
	svc := &c.Services[i]
	j, err := findServer(svc, srvName)
	if err != nil {
		return 0, result{NotFound: true, Fields: FieldErrors{"": err.Error()}}
	}
	if !svc.Active {
		return 0, result{Fields: FieldErrors{"": fmt.Sprintf("virtual server %q is not active", svcName)}}
	}
	k := svc.Key()
	n, err := s.r.Override(svc.RealServers[j].Key(), &k, a)
	if err != nil {
		return 0, result{Fields: FieldErrors{"": err.Error()}}
	}
	return n, result{}
}

// role is the router's redundancy role. A router without backup_active,
// or one whose VRRP has not reported yet, is the active one: it serves.
func (s *Server) role() string {
	if r := s.r.Redundancy().Role; r != "" {
		return r
	}
	return "active"
}
