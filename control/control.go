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
//	GET  /v1/status  the router's status: router.Status
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
)

// APIVersion is the path prefix of this revision of the API; a change that
// old clients cannot read gets a new prefix instead of breaking them.
const APIVersion = "/v1/"

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
