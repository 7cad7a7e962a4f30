// Package reload applies a configuration to a data plane and its table the
// way the router reloads, for the tests of the planes. It is apart from
// package testutil, which imports only the standard library, because it
// needs the plane contract and the table.
package reload

import (
	"context"

	"github.com/govs/govs/dataplane"
	"github.com/govs/govs/model"
	"github.com/govs/govs/table"
)

// Preparer is the part of a data plane a reload drives.
type Preparer interface {
	Prepare(ctx context.Context, cfg *model.Config) (dataplane.Txn, error)
}

// Apply reloads cfg as the router does: the plane prepares it, the table
// takes it, and the plane commits; if the table refuses it, the prepared
// change is aborted and the table's error returned.
func Apply(p Preparer, tb *table.Table, cfg *model.Config) error {
	tx, err := p.Prepare(context.Background(), cfg)
	if err != nil {
		return err
	}
	if _, err := tb.Apply(cfg); err != nil {
		tx.Abort()
		return err
	}
	return tx.Commit()
}
