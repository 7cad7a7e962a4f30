package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/govs/govs/config"
	"github.com/govs/govs/router"
	"github.com/govs/govs/table"
)

// Router is what the control socket serves: the running router.
type Router interface {
	// Snapshot copies the table.
	Snapshot() table.Snapshot
	// Conns lists the connection entries and persistence templates.
	Conns() []table.ConnStatus
	// Reload rereads and applies the configuration. On error the router
	// keeps running the old configuration, and the error's text is what
	// the operator reads: for a configuration that does not parse or
	// validate, every problem as "FILE:LINE: message", one per line.
	// ctx ends when the requesting client goes away.
	Reload(ctx context.Context) error
	// Status describes the router.
	Status() router.Status
	// RealServer applies an operator override to real servers (govs
	// realserver disable|enable|drain|clear). Bad requests are reported as
	// a *StatusError with a 4xx code.
	RealServer(ctx context.Context, req RealServerRequest) (RealServerResult, error)
	// Health describes the health monitors, agents and overrides, as JSON.
	Health() any
	// History lists the revisions of the configuration file, oldest
	// first; Revision returns one with its text and the diff from the one
	// before it.
	History() []config.Revision
	Revision(n int) (config.Revision, []byte, string, error)
	// Rollback makes revision n run again, as an edit. Errors are
	// *StatusError: 404 for a revision not held, 422 for one that does
	// not validate, 409 for one the router could not apply.
	Rollback(ctx context.Context, n int) (config.Revision, error)
	// Zero zeroes the counters of one service (named as in lvs.cf or by
	// its key) or, for "", of every service, as ipvsadm -Z does. A
	// service that is not running is a *StatusError 404.
	Zero(ctx context.Context, service string) (ZeroResult, error)
}

// ZeroRequest names the service whose counters to zero; empty: all.
type ZeroRequest struct {
	Service string `json:"service,omitempty"`
}

// ZeroResult lists the services whose counters were zeroed, by key.
type ZeroResult struct {
	Services []string `json:"services"`
}

// RevisionView is a revision with its text and the unified diff from the
// revision before it.
type RevisionView struct {
	config.Revision
	Text string `json:"text"`
	Diff string `json:"diff"`
}

// RollbackRequest names the revision to roll back to.
type RollbackRequest struct {
	Revision int `json:"revision"`
}

// RealServerRequest is an operator override: Action is disable, enable,
// drain or clear; Target is ADDR or ADDR:PORT ([V6]:PORT); Service, if set,
// limits it to one virtual service, named as in lvs.cf or by its key
// (tcp:VIP:PORT, udp:VIP:PORT, fwm:MARK).
type RealServerRequest struct {
	Action  string `json:"action"`
	Target  string `json:"target"`
	Service string `json:"service,omitempty"`
}

// RealServerResult says how many real-server entries an override matched.
type RealServerResult struct {
	Matched int `json:"matched"`
}

// StatusError is an error a Router returns to choose the HTTP status, such
// as 400 for a malformed request or 404 for one that names nothing.
type StatusError struct {
	Code int
	Err  error
}

func (e *StatusError) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error.
func (e *StatusError) Unwrap() error { return e.Err }

// Server serves a Router on the control socket.
type Server struct {
	r      Router
	log    *slog.Logger
	srv    *http.Server
	routes map[string]route

	// reload serializes reloads, so that two operators reloading at once
	// get one answer each, in turn, rather than interleaved changes.
	reload sync.Mutex
}

// route is one endpoint: the method it takes and its handler.
type route struct {
	method  string
	handler func(http.ResponseWriter, *http.Request)
}

// NewServer returns a server for r. A nil log discards.
func NewServer(r Router, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{r: r, log: log}
	s.routes = map[string]route{
		APIVersion + "table":      {http.MethodGet, s.table},
		APIVersion + "conns":      {http.MethodGet, s.conns},
		APIVersion + "status":     {http.MethodGet, s.status},
		APIVersion + "reload":     {http.MethodPost, s.reloadConfig},
		APIVersion + "realserver": {http.MethodPost, s.realServer},
		APIVersion + "health":     {http.MethodGet, s.health},
		APIVersion + "history":    {http.MethodGet, s.history},
		APIVersion + "revision":   {http.MethodGet, s.revision},
		APIVersion + "rollback":   {http.MethodPost, s.rollback},
		APIVersion + "zero":       {http.MethodPost, s.zero},
	}
	s.srv = &http.Server{
		Handler:           s,
		ConnContext:       connContext,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return s
}

// Serve answers requests on ln until Shutdown; it then returns nil.
func (s *Server) Serve(ln net.Listener) error {
	err := s.srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting requests, lets those in progress finish until
// ctx is done, and closes the listener (which removes the socket file).
func (s *Server) Shutdown(ctx context.Context) error {
	return s.srv.Shutdown(ctx)
}

// ServeHTTP routes a request. The routing is by hand rather than through
// http.ServeMux so that a wrong method or path gets a JSON error saying
// what would have been right.
func (s *Server) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("control request panicked", "method", req.Method, "path", req.URL.Path, "panic", v)
			writeError(w, http.StatusInternalServerError, fmt.Sprintf("internal error: %v", v))
		}
	}()
	rt, ok := s.routes[req.URL.Path]
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no such endpoint %s (this router serves %s)",
			req.URL.Path, strings.Join(s.endpoints(), ", ")))
		return
	}
	if req.Method != rt.method && (req.Method != http.MethodHead || rt.method != http.MethodGet) {
		w.Header().Set("Allow", rt.method)
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed on %s (use %s)",
			req.Method, req.URL.Path, rt.method))
		return
	}
	if rt.method != http.MethodGet {
		if ok, p := mayChange(req.Context()); !ok {
			writeError(w, http.StatusForbidden, fmt.Sprintf("uid %d (pid %d) may read through the control socket but not change the router: root or uid %d may",
				p.uid, p.pid, os.Geteuid()))
			return
		}
	}
	rt.handler(w, req)
}

// endpoints lists the routes in a stable order, for the 404 message.
func (s *Server) endpoints() []string {
	return []string{
		"GET " + APIVersion + "table", "GET " + APIVersion + "conns",
		"GET " + APIVersion + "status", "POST " + APIVersion + "reload",
		"POST " + APIVersion + "realserver", "GET " + APIVersion + "health",
		"GET " + APIVersion + "history", "GET " + APIVersion + "revision?n=N",
		"POST " + APIVersion + "rollback", "POST " + APIVersion + "zero",
	}
}

func (s *Server) table(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.r.Snapshot())
}

func (s *Server) conns(w http.ResponseWriter, _ *http.Request) {
	c := s.r.Conns()
	if c == nil {
		// An empty table is [], not null, for clients other than ours.
		c = []table.ConnStatus{}
	}
	writeJSON(w, http.StatusOK, c)
}

func (s *Server) status(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.r.Status())
}

func (s *Server) reloadConfig(w http.ResponseWriter, req *http.Request) {
	s.reload.Lock()
	defer s.reload.Unlock()
	if err := req.Context().Err(); err != nil {
		// The client gave up while another reload ran; nobody would
		// read this one's answer.
		return
	}
	s.log.Info("reload requested on the control socket")
	if err := s.r.Reload(req.Context()); err != nil {
		writeError(w, http.StatusUnprocessableEntity, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, s.r.Status())
}

func (s *Server) health(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.r.Health())
}

func (s *Server) realServer(w http.ResponseWriter, req *http.Request) {
	var rr RealServerRequest
	if !decodeOne(w, req, &rr, "real-server") {
		return
	}
	res, err := s.r.RealServer(req.Context(), rr)
	if err != nil {
		writeError(w, statusOf(err, http.StatusInternalServerError), err.Error())
		return
	}
	s.log.Info("real-server override", "action", rr.Action, "target", rr.Target, "service", rr.Service,
		"matched", res.Matched)
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) zero(w http.ResponseWriter, req *http.Request) {
	var zr ZeroRequest
	if !decodeOne(w, req, &zr, "zero") {
		return
	}
	res, err := s.r.Zero(req.Context(), zr.Service)
	if err != nil {
		writeError(w, statusOf(err, http.StatusInternalServerError), err.Error())
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) history(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.r.History())
}

func (s *Server) revision(w http.ResponseWriter, req *http.Request) {
	n, err := strconv.Atoi(req.URL.Query().Get("n"))
	if err != nil || n <= 0 {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("bad revision %q: want ?n=N, N from govs history", req.URL.Query().Get("n")))
		return
	}
	rev, text, diff, err := s.r.Revision(n)
	if err != nil {
		writeError(w, http.StatusNotFound, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, RevisionView{Revision: rev, Text: string(text), Diff: diff})
}

func (s *Server) rollback(w http.ResponseWriter, req *http.Request) {
	var rr RollbackRequest
	if !decodeOne(w, req, &rr, "rollback") {
		return
	}
	if rr.Revision <= 0 {
		writeError(w, http.StatusBadRequest, "bad rollback request: want {\"revision\": N}, N from govs history")
		return
	}
	s.reload.Lock()
	defer s.reload.Unlock()
	rev, err := s.r.Rollback(req.Context(), rr.Revision)
	if err != nil {
		writeError(w, statusOf(err, http.StatusConflict), err.Error())
		return
	}
	s.log.Info("rolled back", "to", rr.Revision, "revision", rev.N)
	writeJSON(w, http.StatusOK, rev)
}

// statusOf is the HTTP status for a Router's err: the one a *StatusError
// chose, otherwise fallback.
func statusOf(err error, fallback int) int {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Code
	}
	return fallback
}

// decodeOne reads a request body of exactly one JSON object into v, or
// answers 400 and returns false.
func decodeOne(w http.ResponseWriter, req *http.Request, v any, what string) bool {
	dec := json.NewDecoder(io.LimitReader(req.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "bad "+what+" request: "+err.Error())
		return false
	}
	// Decode reads one value and stops: without this check whatever
	// follows it would be dropped unread, so a body holding two requests
	// would apply the first and say nothing of the second.
	if _, err := dec.Token(); err != io.EOF {
		writeError(w, http.StatusBadRequest, "bad "+what+" request: data after the JSON object")
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "encoding the answer: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(append(body, '\n'))
}

func writeError(w http.ResponseWriter, code int, msg string) {
	body, _ := json.Marshal(errorBody{Error: msg})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	w.Write(append(body, '\n'))
}
