package router

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/govs/govs/config"
	"github.com/govs/govs/model"
)

// ErrInvalid marks an Apply refused because the edited configuration does
// not validate; the error also wraps the config.ErrorList, so callers can
// tell the operator what to fix without touching the file.
var ErrInvalid = errors.New("invalid configuration")

// applyMu serialises edits so that two editors cannot both start from the
// same serial_no; Reload's own lock still orders them against signals.
var applyMu sync.Mutex

// authorKey carries who asks for a change, from the web tool's or the
// API's authentication down to the history.
type authorKey struct{}

// WithAuthor returns ctx naming who makes the changes done under it, as
// the history records them ("web alice", "api deploy-bot").
func WithAuthor(ctx context.Context, who string) context.Context {
	return context.WithValue(ctx, authorKey{}, who)
}

func authorOf(ctx context.Context) string {
	if who, ok := ctx.Value(authorKey{}).(string); ok && who != "" {
		return who
	}
	return "cli"
}

// Apply changes the configuration the way an administrator editing lvs.cf
// and reloading would: edit gets a private copy of the running
// configuration, the result is validated and, with serial_no incremented,
// made into the operator's file by config.Edit (which changes only the
// lines the edit touched) and applied to the table and the data plane;
// only once they took it is it written (atomically, mode 0600) and
// recorded in the history (HistoryDir) with its author (WithAuthor). A
// change the plane refuses never reaches the disk, so a crash at any
// moment leaves a file that describes a configuration that ran. It
// returns the applied configuration.
func (r *Router) Apply(ctx context.Context, edit func(*model.Config) error) (*model.Config, error) {
	applyMu.Lock()
	defer applyMu.Unlock()
	cur := r.cfg.Load()
	next := cur.Clone()
	if err := edit(next); err != nil {
		return nil, err
	}
	if err := config.Validate(next); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	// The running serial, not the file's, is what the edit was based on.
	next.Global.SerialNo = cur.Global.SerialNo + 1
	path := r.o.ConfigPath
	prev, err := config.ReadFile(path)
	if err != nil {
		return nil, err
	}
	// The operator's file, changed only where the edit changed it.
	src, rewritten, err := config.Edit(prev, cur, next)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if rewritten != "" {
		r.log.Warn("lvs.cf written anew in canonical form; the previous text is in the history",
			"why", rewritten, "history", config.HistoryDir(path))
	}
	return r.commit(ctx, cur, prev, src, authorOf(ctx), "edit")
}

// Rollback makes revision n of the history the running configuration
// again, as an edit would: its text, with serial_no moved past the
// running one, is validated, applied, written and recorded as a new
// revision.
func (r *Router) Rollback(ctx context.Context, n int) (*model.Config, error) {
	applyMu.Lock()
	defer applyMu.Unlock()
	old, err := r.history.Read(n)
	if err != nil {
		return nil, err
	}
	path := r.o.ConfigPath
	oldCfg, _, err := config.Parse(path, old)
	if err != nil {
		return nil, fmt.Errorf("%w: revision %d: %w", ErrInvalid, n, err)
	}
	cur := r.cfg.Load()
	next := oldCfg.Clone()
	next.Global.SerialNo = cur.Global.SerialNo + 1
	src, _, err := config.Edit(old, oldCfg, next)
	if err != nil {
		return nil, fmt.Errorf("%w: revision %d: %w", ErrInvalid, n, err)
	}
	prev, err := config.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return r.commit(ctx, cur, prev, src, authorOf(ctx), fmt.Sprintf("rollback to %d", n))
}

// commit applies src, the new text of the file whose text is prev and
// which ran as cur, then writes and records it.
func (r *Router) commit(ctx context.Context, cur *model.Config, prev, src []byte, author, action string) (*model.Config, error) {
	path := r.o.ConfigPath
	// Exactly what a reload of the written file would apply.
	cfg, err := parse(path, src, r.plane.Capabilities(), r.log)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	err = r.recordReload(func() error {
		if err := r.apply(ctx, cfg); err != nil {
			return err
		}
		// The file replaced is in the history, even if it was edited by
		// hand and never loaded.
		r.remember(prev, cur.Global.SerialNo, "file", "before an edit")
		if err := config.WriteFileAtomic(path, src); err != nil {
			// The file still says what ran before: run that again.
			if rerr := r.apply(ctx, cur); rerr != nil {
				return fmt.Errorf("writing %s: %w (and going back failed: %v)", path, err, rerr)
			}
			return fmt.Errorf("writing %s: %w", path, err)
		}
		r.remember(src, cfg.Global.SerialNo, author, action)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return r.cfg.Load(), nil
}

// remember records a revision; the history failing to keep one is
// logged, as it must not undo a change that ran.
func (r *Router) remember(src []byte, serial int, author, action string) {
	if _, err := r.history.Record(src, serial, author, action, r.o.Clock.Now()); err != nil {
		r.log.Warn("keeping the configuration in the history", "error", err.Error(), "history", config.HistoryDir(r.o.ConfigPath))
	}
}

// History lists the revisions the history holds, oldest first.
func (r *Router) History() []config.Revision { return r.history.List() }

// Revision returns revision n with its text and the unified diff from the
// revision before it.
func (r *Router) Revision(n int) (config.Revision, []byte, string, error) {
	return r.history.Diff(n)
}
