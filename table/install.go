package table

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/govs/govs/model"
	"github.com/govs/govs/persistence"
)

// InstallTemplate stores a persistence template a peer router made: client
// (under the service's persistence mask) of service svc goes to real
// server dest until expires, then for timeout after each connection. It is
// how a backup router learns the active one's templates, so that after a
// failover a persistent client lands on the real server it had. A template
// the table already has for that client is replaced: the active router is
// the authority.
func (t *Table) InstallTemplate(svc model.ServiceKey, client netip.Addr, dest model.DestKey,
	timeout time.Duration, expires time.Time) error {
	s := t.Service(svc)
	if s == nil {
		return fmt.Errorf("no virtual service %s", svc)
	}
	pers := s.Config().Persistence
	if !pers.Enabled() {
		return fmt.Errorf("virtual service %s is not persistent here", svc)
	}
	d := s.Dest(dest)
	if d == nil {
		return fmt.Errorf("virtual service %s has no real server %s", svc, dest)
	}
	k := persistence.MakeKey(svc, client, pers.Bits(model.FamilyOf(client)))
	if old := t.templates.Put(k, d, timeout, expires, t.clock.Now()); old != nil {
		old.Dest.persist.Add(-1)
	}
	d.persist.Add(1)
	return nil
}
