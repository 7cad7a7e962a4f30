// Package control is the control socket of a running router: a small
// HTTP/JSON API on a unix socket through which `govs list`, `govs reload`
// and the other commands talk to `govs run`.
//
// A unix socket rather than TCP because who may steer the router is then a
// matter of file permissions (the socket is 0600 in a 0700 directory), as
// for the kernel's IPVS, which only root may change. HTTP and JSON because
// they are easy to debug with curl --unix-socket and to extend.
//
// Endpoints, all under /v1/:
//
//	GET  /v1/table   the table: table.Snapshot
//	GET  /v1/conns   connection entries and templates: []table.ConnStatus
//	GET  /v1/status  the router's Status
//	POST /v1/reload  reread the configuration; 200 and the new Status, or
//	                 422 with the configuration's errors
//	GET  /v1/history the revisions of lvs.cf: []config.Revision
//	GET  /v1/revision?n=N  one revision with its text and diff
//	POST /v1/rollback {"revision": N}: make revision N run again; 200 and
//	                 the revision recording it, 404, 422 or 409
//
// Every error is a JSON object {"error": "..."} with a 4xx or 5xx status.
package control

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/govs/govs/dataplane"
)

// APIVersion is the path prefix of this revision of the API; a change that
// old clients cannot read gets a new prefix instead of breaking them.
const APIVersion = "/v1/"

// Status describes the running router.
type Status struct {
	// Version is govs's version.
	Version string `json:"version"`
	// ConfigPath is the lvs.cf the router runs.
	ConfigPath string `json:"config_path"`
	// Serial is the running configuration's serial_no, which Piranha's
	// tools use to tell which configuration a router runs.
	Serial int `json:"serial_no"`
	// Plane is the data plane's name: proxy or ipvs.
	Plane string `json:"plane"`
	// Started is when the router started; PID its process.
	Started time.Time `json:"started"`
	PID     int       `json:"pid"`
	// Reloads counts successful reloads, FailedReloads rejected ones.
	Reloads       int `json:"reloads"`
	FailedReloads int `json:"failed_reloads"`
	// LastReload is when the last reload was attempted, successful or not;
	// zero if none was.
	LastReload time.Time `json:"last_reload,omitzero"`
	// LastReloadError is why the last reload failed; empty if it succeeded
	// (or none was tried), so that a stale failure does not linger once the
	// configuration is fixed.
	LastReloadError string `json:"last_reload_error,omitempty"`
	// Role is the router's place in its VRRP pair: active, backup or
	// fault; a router without backup_active is active.
	Role string `json:"role,omitempty"`
	// Redundant says whether the router has a partner (backup_active).
	Redundant bool `json:"redundant,omitempty"`
	// Peer is the partner router's address, Master the active router's
	// as last seen.
	Peer   string `json:"peer,omitempty"`
	Master string `json:"master,omitempty"`
	// LastAdvert is when the partner's last VRRP advert arrived, and
	// LastAdvertFrom from where; zero if none has.
	LastAdvert     time.Time `json:"last_advert,omitzero"`
	LastAdvertFrom string    `json:"last_advert_from,omitempty"`
	// Sockets is the data plane's socket budget and what it refused, for
	// planes that hold a socket per connection.
	Sockets *dataplane.Sockets `json:"sockets,omitempty"`
}

// Error is an error the router answered with.
type Error struct {
	// StatusCode is the HTTP status: 422 (http.StatusUnprocessableEntity)
	// when a reload was rejected, in which case Message is the
	// configuration's error list, one "FILE:LINE: message" per line.
	StatusCode int
	// Message is the router's text, unchanged.
	Message string
}

// Error returns the router's text as is, so that `govs reload` prints a
// rejected configuration's errors exactly as `govs check` would.
func (e *Error) Error() string { return e.Message }

// errorBody is the JSON shape of every error response.
type errorBody struct {
	Error string `json:"error"`
}

func decodeError(status int, body []byte) *Error {
	var eb errorBody
	if err := json.Unmarshal(body, &eb); err != nil || eb.Error == "" {
		msg := fmt.Sprintf("unexpected answer from the govs router (HTTP %d)", status)
		if len(body) > 0 && len(body) < 512 {
			msg += ": " + string(body)
		}
		return &Error{StatusCode: status, Message: msg}
	}
	return &Error{StatusCode: status, Message: eb.Error}
}
