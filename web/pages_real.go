package web

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/govs/govs/model"
)

// The REAL SERVER pages: the list with live state, add, edit, and the
// operations on one real server.

func (s *Server) realList(w http.ResponseWriter, r *http.Request, p *principal) {
	sv := s.lookup(w, r.PathValue("name"))
	if sv == nil {
		return
	}
	pg := s.newPage(p, "Real Servers of "+sv.Name, "virtual")
	d := model.DefaultRealServer("")
	d.Port = sv.DefaultServerPort()
	pg.Form = &form{Values: ServerFields(sv, &d), Errs: FieldErrors{}}
	pg.Data = s.serviceEdit(sv)
	pg.Flash = s.savedFlash(r)
	s.render(w, http.StatusOK, "real.html", pg)
}

func (s *Server) realAdd(w http.ResponseWriter, r *http.Request, p *principal) {
	name := r.PathValue("name")
	sv := s.lookup(w, name)
	if sv == nil {
		return
	}
	f := formFields(r, ServerKeys)
	res := s.addServer(r.Context(), name, f)
	if res.ok() {
		http.Redirect(w, r, "/virtual/"+url.PathEscape(name)+"/real?saved=1", http.StatusSeeOther)
		return
	}
	pg := s.newPage(p, "Real Servers of "+sv.Name, "virtual")
	d := model.DefaultRealServer("")
	d.Port = sv.DefaultServerPort()
	pg.Form = &form{Values: merged(ServerFields(sv, &d), f), Errs: res.Fields}
	pg.Error = formError(res)
	pg.Data = s.serviceEdit(sv)
	s.render(w, http.StatusBadRequest, "real.html", pg)
}

func (s *Server) realEdit(w http.ResponseWriter, r *http.Request, p *principal) {
	sv := s.lookup(w, r.PathValue("name"))
	if sv == nil {
		return
	}
	j, err := findServer(sv, r.PathValue("server"))
	if err != nil {
		s.errorPage(w, http.StatusNotFound, err.Error())
		return
	}
	pg := s.newPage(p, "Real Server "+sv.RealServers[j].Name, "virtual")
	pg.Form = &form{Values: ServerFields(sv, &sv.RealServers[j]), Errs: FieldErrors{}, RO: !p.user.CanWrite()}
	se := s.serviceEdit(sv)
	se.Server = sv.RealServers[j].Name
	pg.Data = se
	s.render(w, http.StatusOK, "real_edit.html", pg)
}

func (s *Server) realEditPost(w http.ResponseWriter, r *http.Request, p *principal) {
	name, srv := r.PathValue("name"), r.PathValue("server")
	sv := s.lookup(w, name)
	if sv == nil {
		return
	}
	j, err := findServer(sv, srv)
	if err != nil {
		s.errorPage(w, http.StatusNotFound, err.Error())
		return
	}
	f := formFields(r, ServerKeys)
	res := s.editServer(r.Context(), name, srv, f)
	if res.ok() {
		http.Redirect(w, r, "/virtual/"+url.PathEscape(name)+"/real?saved=1", http.StatusSeeOther)
		return
	}
	pg := s.newPage(p, "Real Server "+srv, "virtual")
	pg.Form = &form{Values: merged(ServerFields(sv, &sv.RealServers[j]), f), Errs: res.Fields}
	pg.Error = formError(res)
	se := s.serviceEdit(sv)
	se.Server = srv
	pg.Data = se
	s.render(w, http.StatusBadRequest, "real_edit.html", pg)
}

func (s *Server) realOp(w http.ResponseWriter, r *http.Request, p *principal) {
	name, srv, op := r.PathValue("name"), r.PathValue("server"), r.PathValue("op")
	var res result
	done := ""
	switch op {
	case "delete":
		res = s.deleteServer(r.Context(), name, srv)
	case "activate", "deactivate":
		res = s.editServer(r.Context(), name, srv, Fields{"active": boolStr(op == "activate")})
	case "enable", "disable", "drain", "clear":
		_, res = s.override(name, srv, op)
		done = fmt.Sprintf("Real server %s: %s (runtime override, lvs.cf unchanged).", srv, op)
	default:
		s.errorPage(w, http.StatusNotFound, "unknown operation "+op)
		return
	}
	if res.NotFound {
		s.errorPage(w, http.StatusNotFound, formError(res))
		return
	}
	if !res.ok() {
		s.errorPage(w, http.StatusBadRequest, formError(res))
		return
	}
	q := "saved=1"
	if done != "" {
		q = "done=" + url.QueryEscape(done)
	}
	http.Redirect(w, r, "/virtual/"+url.PathEscape(name)+"/real?"+q, http.StatusSeeOther)
}
