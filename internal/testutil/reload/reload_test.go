package reload

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"testing"

	"github.com/govs/govs/dataplane"
	"github.com/govs/govs/model"
	"github.com/govs/govs/table"
)

// fakePlane records the steps a reload takes.
type fakePlane struct {
	prepareErr, commitErr error
	steps                 []string
}

type fakeTxn struct{ p *fakePlane }

func (p *fakePlane) Prepare(context.Context, *model.Config) (dataplane.Txn, error) {
	p.steps = append(p.steps, "prepare")
	if p.prepareErr != nil {
		return nil, p.prepareErr
	}
	return fakeTxn{p}, nil
}

func (t fakeTxn) Commit() error { t.p.steps = append(t.p.steps, "commit"); return t.p.commitErr }
func (t fakeTxn) Abort()        { t.p.steps = append(t.p.steps, "abort") }

func TestApply(t *testing.T) {
	errPrepare, errCommit, errSched := errors.New("plane refuses"), errors.New("commit fails"), errors.New("no scheduler")
	// The table refuses a service whose scheduler it cannot make.
	refused := &model.Config{Services: []model.Service{{Name: "web", Active: true, Proto: model.ProtoTCP,
		VIP: netip.MustParseAddr("192.0.2.1"), Port: 80, Scheduler: model.SchedRR}}}
	for _, c := range []struct {
		name  string
		p     *fakePlane
		cfg   *model.Config
		want  error
		steps string
	}{
		{"committed", &fakePlane{}, &model.Config{}, nil, "[prepare commit]"},
		{"plane refuses", &fakePlane{prepareErr: errPrepare}, &model.Config{}, errPrepare, "[prepare]"},
		{"table refuses", &fakePlane{}, refused, errSched, "[prepare abort]"},
		{"commit fails", &fakePlane{commitErr: errCommit}, &model.Config{}, errCommit, "[prepare commit]"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tb := table.New(table.Options{NewScheduler: func(model.Scheduler, model.SchedFlags) (table.Scheduler, error) {
				return nil, errSched
			}})
			if err := Apply(c.p, tb, c.cfg); !errors.Is(err, c.want) || (err == nil) != (c.want == nil) {
				t.Errorf("error %v, want %v", err, c.want)
			}
			if got := fmt.Sprint(c.p.steps); got != c.steps {
				t.Errorf("steps %s, want %s", got, c.steps)
			}
		})
	}
}
