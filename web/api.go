package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/govs/govs/model"
	"github.com/govs/govs/router"
)

// apiRoute is one REST operation; the OpenAPI document is generated from
// the same table the mux is built from, so the two cannot disagree.
type apiRoute struct {
	method, path, summary string
	write                 bool
	body                  string // schema name of the request body; "" for none
	h                     func(s *Server, w http.ResponseWriter, r *http.Request, p *principal)
}

var apiRoutes = []apiRoute{
	{"GET", "/api/v1/status", "Router status and redundancy role", false, "", (*Server).apiStatus},
	{"GET", "/api/v1/table", "The live virtual server table: services, real servers, state, connections, rates", false, "", (*Server).apiTable},
	{"GET", "/api/v1/health", "Health monitors, agents and overrides", false, "", (*Server).apiHealth},
	{"GET", "/api/v1/rates", "Connection and byte rates sampled every 2 s over the last 10 minutes", false, "", (*Server).apiRates},
	{"GET", "/api/v1/global", "Global settings and redundancy fields", false, "", (*Server).apiGetGlobal},
	{"PUT", "/api/v1/global", "Change global settings and redundancy fields", true, "Global", (*Server).apiPutGlobal},
	{"GET", "/api/v1/services", "List virtual servers with their real servers", false, "", (*Server).apiListServices},
	{"POST", "/api/v1/services", "Add a virtual server", true, "Service", (*Server).apiAddService},
	{"GET", "/api/v1/services/{name}", "One virtual server", false, "", (*Server).apiGetService},
	{"PUT", "/api/v1/services/{name}", "Change a virtual server (and its monitoring fields)", true, "Service", (*Server).apiEditService},
	{"DELETE", "/api/v1/services/{name}", "Delete a virtual server", true, "", (*Server).apiDeleteService},
	{"POST", "/api/v1/services/{name}/activate", "Activate a virtual server", true, "", (*Server).apiActivate},
	{"POST", "/api/v1/services/{name}/deactivate", "Deactivate a virtual server", true, "", (*Server).apiDeactivate},
	{"POST", "/api/v1/services/{name}/servers", "Add a real server", true, "Server", (*Server).apiAddServer},
	{"PUT", "/api/v1/services/{name}/servers/{server}", "Change a real server", true, "Server", (*Server).apiEditServer},
	{"DELETE", "/api/v1/services/{name}/servers/{server}", "Delete a real server", true, "", (*Server).apiDeleteServer},
	{"GET", "/api/v1/history", "The revisions of lvs.cf the history holds, oldest first: number, serial_no, time, author, action, lines added and removed", false, "", (*Server).apiHistory},
	{"GET", "/api/v1/history/{revision}", "One revision: its description, its text, and the unified diff from the revision before it", false, "", (*Server).apiRevision},
	{"POST", "/api/v1/history/{revision}/rollback", "Make a revision the running configuration again; validated, applied and recorded as an edit", true, "", (*Server).apiRollback},
	{"POST", "/api/v1/services/{name}/servers/{server}/{action}", "Override a real server's state: enable, disable, drain or clear (runtime, not saved in lvs.cf)", true, "", (*Server).apiOverride},
}

func (s *Server) routes() {
	for _, rt := range apiRoutes {
		rt := rt
		s.mux.HandleFunc(rt.method+" "+rt.path, func(w http.ResponseWriter, r *http.Request) {
			p := s.authenticate(r)
			if p == nil {
				w.Header().Set("WWW-Authenticate", `Bearer realm="govs"`)
				writeJSON(w, http.StatusUnauthorized, apiError{Error: "authentication required: a bearer token or a session"})
				return
			}
			if rt.write {
				if !p.user.CanWrite() {
					writeJSON(w, http.StatusForbidden, apiError{Error: "user " + p.user.Name + " is read-only"})
					return
				}
				if !csrfOK(p, r) {
					writeJSON(w, http.StatusForbidden, apiError{Error: "missing or wrong CSRF token (X-CSRF-Token)"})
					return
				}
			}
			rt.h(s, w, r.WithContext(router.WithAuthor(r.Context(), "api "+p.user.Name)), p)
		})
	}
	s.mux.HandleFunc("GET /api/openapi.json", s.apiOpenAPI)
	metrics := s.metrics.handler()
	s.mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		// Read per request, so a reload that sets or clears it applies.
		if s.r.Config().Global.MetricsAuth && s.authenticate(r) == nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="govs"`)
			writeJSON(w, http.StatusUnauthorized, apiError{Error: "authentication required for /metrics (metrics_auth = 1): a bearer token or a session"})
			return
		}
		metrics.ServeHTTP(w, r)
	})
	s.pageRoutes()
}

type apiError struct {
	Error  string      `json:"error"`
	Fields FieldErrors `json:"fields,omitempty"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// readFields decodes a JSON object whose values may be strings, numbers or
// booleans into Fields.
func readFields(r *http.Request) (Fields, error) {
	var raw map[string]any
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("request body: want a JSON object of lvs.cf keywords: %v", err)
	}
	// Decode reads one value and stops: whatever followed it would be
	// dropped unread, so a body holding two objects would apply the first
	// and say nothing of the second.
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("request body: data after the JSON object")
	}
	if raw == nil {
		// null decodes into a nil map without complaint; it is no object,
		// and taking it as an empty edit would rewrite lvs.cf for nothing.
		return nil, errors.New("request body: want a JSON object of lvs.cf keywords, not null")
	}
	f := Fields{}
	for k, v := range raw {
		switch v := v.(type) {
		case string:
			f[k] = v
		case json.Number:
			f[k] = v.String()
		case bool:
			f[k] = boolStr(v)
		case nil:
			f[k] = ""
		default:
			return nil, fmt.Errorf("field %q: want a string, number or boolean", k)
		}
	}
	return f, nil
}

// respond writes a change's result.
func (s *Server) respond(w http.ResponseWriter, res result, okCode int, body any) {
	switch {
	case res.NotFound, res.Refused:
		writeJSON(w, res.status(), apiError{Error: res.Fields[""]})
	case !res.ok():
		msg := "invalid input"
		if m, ok := res.Fields[""]; ok {
			msg = m
		}
		writeJSON(w, res.status(), apiError{Error: msg, Fields: res.Fields})
	default:
		if body == nil {
			body = map[string]any{"ok": true, "serial_no": s.config().Global.SerialNo}
		}
		writeJSON(w, okCode, body)
	}
}

func (s *Server) apiStatus(w http.ResponseWriter, r *http.Request, p *principal) {
	writeJSON(w, http.StatusOK, s.r.Status())
}

func (s *Server) apiTable(w http.ResponseWriter, r *http.Request, p *principal) {
	writeJSON(w, http.StatusOK, s.r.Snapshot())
}

func (s *Server) apiHealth(w http.ResponseWriter, r *http.Request, p *principal) {
	writeJSON(w, http.StatusOK, s.r.Health())
}

func (s *Server) apiRates(w http.ResponseWriter, r *http.Request, p *principal) {
	writeJSON(w, http.StatusOK, map[string]any{"interval_seconds": s.o.SampleInterval.Seconds(), "points": s.history.points()})
}

func (s *Server) apiGetGlobal(w http.ResponseWriter, r *http.Request, p *principal) {
	c := s.config()
	f := GlobalFields(&c.Global)
	f["serial_no"] = strconv.Itoa(c.Global.SerialNo)
	writeJSON(w, http.StatusOK, f)
}

func (s *Server) apiPutGlobal(w http.ResponseWriter, r *http.Request, p *principal) {
	f, err := readFields(r)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{Error: err.Error()})
		return
	}
	s.respond(w, s.editGlobal(r.Context(), f), http.StatusOK, nil)
}

// ServiceView is a virtual server as the API shows it: its fields and
// its real servers' fields.
type ServiceView struct {
	Fields
	Servers []Fields `json:"servers"`
}

// MarshalJSON flattens the fields beside "servers".
func (v ServiceView) MarshalJSON() ([]byte, error) {
	m := map[string]any{}
	for k, x := range v.Fields {
		m[k] = x
	}
	m["servers"] = v.Servers
	return json.Marshal(m)
}

func serviceView(svc *model.Service) ServiceView {
	v := ServiceView{Fields: ServiceFields(svc), Servers: []Fields{}}
	for i := range svc.RealServers {
		v.Servers = append(v.Servers, ServerFields(svc, &svc.RealServers[i]))
	}
	return v
}

func (s *Server) apiListServices(w http.ResponseWriter, r *http.Request, p *principal) {
	c := s.config()
	out := []ServiceView{}
	for i := range c.Services {
		out = append(out, serviceView(&c.Services[i]))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) apiGetService(w http.ResponseWriter, r *http.Request, p *principal) {
	c := s.config()
	i, err := findService(c, r.PathValue("name"))
	if err != nil {
		writeJSON(w, http.StatusNotFound, apiError{Error: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, serviceView(&c.Services[i]))
}

func (s *Server) apiAddService(w http.ResponseWriter, r *http.Request, p *principal) {
	f, err := readFields(r)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{Error: err.Error()})
		return
	}
	res := s.addService(r.Context(), f)
	s.respondService(w, res, http.StatusCreated, f["name"])
}

func (s *Server) respondService(w http.ResponseWriter, res result, code int, name string) {
	if !res.ok() || res.Refused {
		s.respond(w, res, code, nil)
		return
	}
	c := s.config()
	i, err := findService(c, name)
	if err != nil {
		s.respond(w, res, code, nil)
		return
	}
	s.respond(w, res, code, serviceView(&c.Services[i]))
}

func (s *Server) apiEditService(w http.ResponseWriter, r *http.Request, p *principal) {
	f, err := readFields(r)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{Error: err.Error()})
		return
	}
	name := r.PathValue("name")
	res := s.editService(r.Context(), name, f)
	if n, ok := f["name"]; ok {
		name = strings.TrimSpace(n)
	}
	s.respondService(w, res, http.StatusOK, name)
}

func (s *Server) apiDeleteService(w http.ResponseWriter, r *http.Request, p *principal) {
	s.respond(w, s.deleteService(r.Context(), r.PathValue("name")), http.StatusOK, nil)
}

func (s *Server) apiActivate(w http.ResponseWriter, r *http.Request, p *principal) {
	s.respondService(w, s.setServiceActive(r.Context(), r.PathValue("name"), true), http.StatusOK, r.PathValue("name"))
}

func (s *Server) apiDeactivate(w http.ResponseWriter, r *http.Request, p *principal) {
	s.respondService(w, s.setServiceActive(r.Context(), r.PathValue("name"), false), http.StatusOK, r.PathValue("name"))
}

func (s *Server) apiAddServer(w http.ResponseWriter, r *http.Request, p *principal) {
	f, err := readFields(r)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{Error: err.Error()})
		return
	}
	name := r.PathValue("name")
	s.respondService(w, s.addServer(r.Context(), name, f), http.StatusCreated, name)
}

func (s *Server) apiEditServer(w http.ResponseWriter, r *http.Request, p *principal) {
	f, err := readFields(r)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{Error: err.Error()})
		return
	}
	name := r.PathValue("name")
	s.respondService(w, s.editServer(r.Context(), name, r.PathValue("server"), f), http.StatusOK, name)
}

func (s *Server) apiDeleteServer(w http.ResponseWriter, r *http.Request, p *principal) {
	name := r.PathValue("name")
	s.respondService(w, s.deleteServer(r.Context(), name, r.PathValue("server")), http.StatusOK, name)
}

func (s *Server) apiOverride(w http.ResponseWriter, r *http.Request, p *principal) {
	n, res := s.override(r.PathValue("name"), r.PathValue("server"), r.PathValue("action"))
	s.respond(w, res, http.StatusOK, map[string]any{"ok": true, "matched": n})
}
