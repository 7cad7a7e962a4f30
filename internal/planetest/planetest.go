// Package planetest holds data planes for tests of what sits above them
// (the router, the web tool): planes that accept every configuration and
// carry none out, so that a test or benchmark measures its own code and
// binds no sockets.
package planetest

import (
	"context"

	"github.com/govs/govs/dataplane"
	"github.com/govs/govs/dataplane/proxy"
	"github.com/govs/govs/model"
)

// Null takes every configuration and installs nothing. It has the proxy
// plane's name and capabilities, so that configurations are held to what
// the default plane can do.
type Null struct{}

// Name returns "proxy".
func (Null) Name() string { return proxy.Capabilities.Name }

// Capabilities returns the proxy plane's.
func (Null) Capabilities() model.Capabilities { return proxy.Capabilities }

// Prepare accepts cfg.
func (Null) Prepare(context.Context, *model.Config) (dataplane.Txn, error) { return nullTxn{}, nil }

// Close does nothing.
func (Null) Close(context.Context) error { return nil }

type nullTxn struct{}

func (nullTxn) Commit() error { return nil }
func (nullTxn) Abort()        {}

var _ dataplane.Plane = Null{}
