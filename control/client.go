package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"strconv"
	"syscall"

	"github.com/govs/govs/config"
	"github.com/govs/govs/router"
	"github.com/govs/govs/table"
)

// ErrNotRunning matches (with errors.Is) the error of a client that found
// no router at its socket.
var ErrNotRunning = errors.New("no govs router is running")

// NotRunningError says that no router listens at Path: the socket file is
// missing, or nobody accepts on it.
type NotRunningError struct {
	Path string
	Err  error // the dial error
}

func (e *NotRunningError) Error() string {
	return fmt.Sprintf("no govs router is running at %s (is `govs run` started? use --socket)", e.Path)
}

// Unwrap returns the dial error.
func (e *NotRunningError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrNotRunning) hold.
func (e *NotRunningError) Is(target error) bool { return target == ErrNotRunning }

// maxBody bounds what the client reads of one answer; a table of many
// thousands of real servers is far below it.
const maxBody = 256 << 20

// Client talks to a router's control socket.
type Client struct {
	path string
	hc   *http.Client
}

// Dial returns a client for the socket at path. It connects lazily, on the
// first call, so that the "not running" error comes with the call that
// needed the router.
func Dial(path string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
		MaxIdleConns:       1,
		DisableCompression: true,
	}
	return &Client{path: path, hc: &http.Client{Transport: tr}}
}

// Path returns the socket's path.
func (c *Client) Path() string { return c.path }

// Close releases the client's idle connection.
func (c *Client) Close() error {
	c.hc.CloseIdleConnections()
	return nil
}

// Snapshot fetches the table.
func (c *Client) Snapshot(ctx context.Context) (table.Snapshot, error) {
	return call[table.Snapshot](ctx, c, http.MethodGet, "table", nil)
}

// Conns fetches the connection entries and persistence templates.
func (c *Client) Conns(ctx context.Context) ([]table.ConnStatus, error) {
	return call[[]table.ConnStatus](ctx, c, http.MethodGet, "conns", nil)
}

// Status fetches the router's status.
func (c *Client) Status(ctx context.Context) (router.Status, error) {
	return call[router.Status](ctx, c, http.MethodGet, "status", nil)
}

// Reload asks the router to reread its configuration and returns its
// status after. A rejected configuration comes back as an *Error with
// StatusCode 422 whose text is exactly the router's error list.
func (c *Client) Reload(ctx context.Context) (router.Status, error) {
	return call[router.Status](ctx, c, http.MethodPost, "reload", nil)
}

// RealServer sends an operator override.
func (c *Client) RealServer(ctx context.Context, r RealServerRequest) (RealServerResult, error) {
	return call[RealServerResult](ctx, c, http.MethodPost, "realserver", r)
}

// Zero zeroes the counters of one service, or of all for "".
func (c *Client) Zero(ctx context.Context, service string) (ZeroResult, error) {
	return call[ZeroResult](ctx, c, http.MethodPost, "zero", ZeroRequest{Service: service})
}

// Health fetches the health monitors, agents and overrides as raw JSON,
// decoded by the caller that knows their types.
func (c *Client) Health(ctx context.Context) (json.RawMessage, error) {
	return call[json.RawMessage](ctx, c, http.MethodGet, "health", nil)
}

// History lists the revisions of the router's configuration file.
func (c *Client) History(ctx context.Context) ([]config.Revision, error) {
	return call[[]config.Revision](ctx, c, http.MethodGet, "history", nil)
}

// Revision fetches one revision with its text and diff.
func (c *Client) Revision(ctx context.Context, n int) (RevisionView, error) {
	return call[RevisionView](ctx, c, http.MethodGet, "revision?n="+strconv.Itoa(n), nil)
}

// Rollback makes revision n run again and returns the revision that
// records it.
func (c *Client) Rollback(ctx context.Context, n int) (config.Revision, error) {
	return call[config.Revision](ctx, c, http.MethodPost, "rollback", RollbackRequest{Revision: n})
}

// call sends a request, with in as its JSON body unless it is nil, and
// decodes the answer as a T.
func call[T any](ctx context.Context, c *Client, method, endpoint string, in any) (T, error) {
	var out T
	err := c.do(ctx, method, endpoint, in, &out)
	return out, err
}

func (c *Client) do(ctx context.Context, method, endpoint string, in, out any) error {
	var reqBody io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		reqBody = bytes.NewReader(b)
	}
	// The host is a placeholder: the transport dials the socket whatever
	// the URL says.
	req, err := http.NewRequestWithContext(ctx, method, "http://govs"+APIVersion+endpoint, reqBody)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return c.transportError(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return fmt.Errorf("reading the govs router's answer at %s: %w", c.path, err)
	}
	if resp.StatusCode/100 != 2 {
		return decodeError(resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("decoding the govs router's answer at %s: %w", c.path, err)
	}
	return nil
}

// transportError turns a failure to reach the socket into words an
// operator can act on.
func (c *Client) transportError(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		switch {
		case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ECONNREFUSED):
			return &NotRunningError{Path: c.path, Err: err}
		case errors.Is(err, fs.ErrPermission):
			return fmt.Errorf("cannot reach the govs router at %s: permission denied (run as the router's user, or root)", c.path)
		}
		return fmt.Errorf("cannot reach the govs router at %s: %w", c.path, op.Err)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("govs router at %s: %w", c.path, err)
	}
	return fmt.Errorf("talking to the govs router at %s: %w", c.path, err)
}
