package web

import (
	"bytes"
	"embed"
	"fmt"
	"html"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/govs/govs/config"
	"github.com/govs/govs/model"
	"github.com/govs/govs/router"
	"github.com/govs/govs/table"
)

//go:embed templates/*.html static/*
var assets embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"field":    field,
	"keywords": keywordFields,
	"bps":      humanRate,
	"lower":    strings.ToLower,
	"pathq":    url.PathEscape,
	"split":    strings.Fields,
	"upper":    strings.ToUpper,
}).ParseFS(assets, "templates/*.html"))

// page is what every template gets.
type page struct {
	Title    string
	Tab      string
	User     string
	CSRF     string
	CanWrite bool
	Flash    string
	Error    string
	Role     string
	Form     *form
	Data     any
}

// form is a form's values and the errors to show beside its fields.
type form struct {
	Values Fields
	Errs   FieldErrors
	RO     bool
}

// field renders one labelled input with its error next to it. kind is
// text, number, check or select:a,b=B,c (value=label).
func field(f *form, key, label, kind, help string) template.HTML {
	var b strings.Builder
	v := f.Values[key]
	id := "f-" + key
	errMsg, bad := f.Errs[key]
	cls := "field"
	if bad {
		cls += " invalid"
	}
	dis := ""
	if f.RO {
		dis = " disabled"
	}
	fmt.Fprintf(&b, `<div class="%s"><label for="%s">%s</label>`, cls, id, html.EscapeString(label))
	switch {
	case kind == "check":
		checked := ""
		if v == "1" {
			checked = " checked"
		}
		fmt.Fprintf(&b, `<input type="hidden" name="%s" value="0"><input type="checkbox" id="%s" name="%s" value="1"%s%s>`,
			key, id, key, checked, dis)
	case strings.HasPrefix(kind, "select:"):
		fmt.Fprintf(&b, `<select id="%s" name="%s"%s>`, id, key, dis)
		for _, o := range strings.Split(strings.TrimPrefix(kind, "select:"), ",") {
			val, text, ok := strings.Cut(o, "=")
			if !ok {
				text = val
			}
			sel := ""
			if val == v {
				sel = " selected"
			}
			fmt.Fprintf(&b, `<option value="%s"%s>%s</option>`, html.EscapeString(val), sel, html.EscapeString(text))
		}
		b.WriteString(`</select>`)
	default:
		typ := "text"
		if kind == "number" {
			typ = "text\" inputmode=\"numeric"
		}
		fmt.Fprintf(&b, `<input type="%s" id="%s" name="%s" value="%s"%s>`, typ, id, key, html.EscapeString(v), dis)
	}
	if help != "" {
		fmt.Fprintf(&b, `<small class="help">%s</small>`, html.EscapeString(help))
	}
	if bad {
		fmt.Fprintf(&b, `<span class="error" id="err-%s" role="alert">%s</span>`, key, html.EscapeString(errMsg))
	}
	b.WriteString(`</div>`)
	return template.HTML(b.String())
}

// keywordFields renders the fields of a page's keywords as the keyword
// registry describes them (label, help, a checkbox for a boolean, a list
// for an enumeration, numeric for a number), in a fieldset per group in
// the order the groups first appear; lead opens the first group.
func keywordFields(f *form, page string, lead ...template.HTML) template.HTML {
	var groups []string
	fields := map[string][]string{}
	for _, k := range config.OnPage(page) {
		g := k.Form.Group
		if _, seen := fields[g]; !seen {
			groups = append(groups, g)
		}
		for i, in := range k.Form.Inputs {
			kind := k.Form.Input
			switch {
			case i > 0:
				kind = "text"
			case kind == "select":
				kind = "select:" + strings.Join(k.Form.Options, ",")
			}
			fields[g] = append(fields[g], string(field(f, in.Name, in.Label, kind, in.Help)))
		}
	}
	var b strings.Builder
	for i, g := range groups {
		if g != "" {
			fmt.Fprintf(&b, "<fieldset><legend>%s</legend>\n", html.EscapeString(g))
		}
		if i == 0 {
			for _, l := range lead {
				b.WriteString(string(l))
				b.WriteByte('\n')
			}
		}
		b.WriteString(strings.Join(fields[g], "\n"))
		if g != "" {
			b.WriteString("\n</fieldset>")
		}
		b.WriteByte('\n')
	}
	return template.HTML(b.String())
}

func humanRate(v uint64) string {
	f := float64(v)
	switch {
	case f >= 1e9:
		return strconv.FormatFloat(f/1e9, 'f', 1, 64) + "G"
	case f >= 1e6:
		return strconv.FormatFloat(f/1e6, 'f', 1, 64) + "M"
	case f >= 1e3:
		return strconv.FormatFloat(f/1e3, 'f', 1, 64) + "K"
	}
	return strconv.FormatUint(v, 10)
}

func (s *Server) pageRoutes() {
	static, _ := fs.Sub(assets, "static")
	s.mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	s.mux.HandleFunc("GET /login", s.loginPage)
	s.mux.HandleFunc("POST /login", s.loginPost)
	s.mux.HandleFunc("POST /logout", s.page(true, s.logout))
	s.mux.HandleFunc("GET /{$}", s.page(false, s.controlPage))
	s.mux.HandleFunc("GET /fragment/table", s.page(false, s.tableFragment))
	s.mux.HandleFunc("GET /global", s.page(false, s.globalPage))
	s.mux.HandleFunc("POST /global", s.page(true, s.globalPost))
	s.mux.HandleFunc("GET /redundancy", s.page(false, s.redundancyPage))
	s.mux.HandleFunc("POST /redundancy", s.page(true, s.redundancyPost))
	s.mux.HandleFunc("GET /virtual", s.page(false, s.virtualList))
	s.mux.HandleFunc("GET /virtual/new", s.page(false, s.virtualNew))
	s.mux.HandleFunc("POST /virtual/new", s.page(true, s.virtualNewPost))
	s.mux.HandleFunc("GET /virtual/{name}", s.page(false, s.virtualEdit))
	s.mux.HandleFunc("POST /virtual/{name}", s.page(true, s.virtualEditPost))
	s.mux.HandleFunc("POST /virtual/{name}/{op}", s.page(true, s.virtualOp))
	s.mux.HandleFunc("GET /virtual/{name}/monitor", s.page(false, s.monitorPage))
	s.mux.HandleFunc("POST /virtual/{name}/monitor", s.page(true, s.monitorPost))
	s.mux.HandleFunc("GET /virtual/{name}/real", s.page(false, s.realList))
	s.mux.HandleFunc("POST /virtual/{name}/real", s.page(true, s.realAdd))
	s.mux.HandleFunc("GET /virtual/{name}/real/{server}", s.page(false, s.realEdit))
	s.mux.HandleFunc("POST /virtual/{name}/real/{server}", s.page(true, s.realEditPost))
	s.mux.HandleFunc("POST /virtual/{name}/real/{server}/{op}", s.page(true, s.realOp))
	s.mux.HandleFunc("GET /history", s.page(false, s.historyPage))
	s.mux.HandleFunc("POST /history/{revision}/rollback", s.page(true, s.historyRollback))
}

type pageHandler func(w http.ResponseWriter, r *http.Request, p *principal)

// page wraps a page handler with its session and CSRF checks. A browser
// without a session is sent to the login page; a change without one, from
// a read-only user, or without the session's CSRF token is refused before
// anything is parsed.
func (s *Server) page(write bool, h pageHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p := s.authenticate(r)
		if p == nil || p.session == nil {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/login", http.StatusSeeOther)
				return
			}
			s.errorPage(w, http.StatusUnauthorized, "Not logged in: log in and try again. Nothing was changed.")
			return
		}
		if write {
			r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
			if !csrfOK(p, r) {
				s.errorPage(w, http.StatusForbidden, "The form's security token is missing or stale: reload the page and try again. Nothing was changed.")
				return
			}
			if !p.user.CanWrite() && r.URL.Path != "/logout" {
				s.errorPage(w, http.StatusForbidden, "User "+p.user.Name+" is read-only. Nothing was changed.")
				return
			}
		}
		h(w, r.WithContext(router.WithAuthor(r.Context(), "web "+p.user.Name)), p)
	}
}

func (s *Server) render(w http.ResponseWriter, code int, name string, pg *page) {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, pg); err != nil {
		s.log.Error("web page", "template", name, "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = buf.WriteTo(w)
}

func (s *Server) errorPage(w http.ResponseWriter, code int, msg string) {
	s.render(w, code, "error.html", &page{Title: http.StatusText(code), Error: msg})
}

func (s *Server) newPage(p *principal, title, tab string) *page {
	return &page{Title: title, Tab: tab, User: p.user.Name, CSRF: p.session.csrf, CanWrite: p.user.CanWrite(),
		Role: s.role()}
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, http.StatusOK, "login.html", &page{Title: "Log in"})
}

func (s *Server) loginPost(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	user, pass := r.PostFormValue("user"), r.PostFormValue("password")
	now := s.now()
	if len(user) > maxUserName {
		// No user has such a name: a failure, but no key of that size in
		// the limiter and no line of it in the log.
		user = user[:maxUserName] + "…"
	}
	ipKey, userKey := "ip:"+clientIP(r), "user:"+user
	if s.limit.blocked(ipKey, now) || s.limit.blocked(userKey, now) || s.limit.blocked(loginAll, now) {
		w.Header().Set("Retry-After", strconv.Itoa(int(loginWindow.Seconds())))
		s.render(w, http.StatusTooManyRequests, "login.html", &page{Title: "Log in",
			Error: "Too many failed logins: try again in a few minutes."})
		return
	}
	u, ok := s.users.check(user, pass)
	if !ok {
		s.limit.fail(ipKey, now)
		s.limit.fail(userKey, now)
		s.limit.fail(loginAll, now)
		s.log.Warn("web login failed", "user", user, "client", clientIP(r))
		s.render(w, http.StatusUnauthorized, "login.html", &page{Title: "Log in", Error: "Wrong user name or password."})
		return
	}
	s.limit.reset(userKey)
	id, _ := s.sessions.create(*u, now)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: id, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: s.o.TLS, MaxAge: int(sessionTTL.Seconds())})
	s.log.Info("web login", "user", u.Name, "client", clientIP(r))
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, p *principal) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		s.sessions.delete(c.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: s.o.TLS})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// controlView is the CONTROL/MONITORING page's data.
type controlView struct {
	Status router.Status
	Table  table.Snapshot
	Health map[string]string // real server address:port -> latest check description
}

func (s *Server) controlPage(w http.ResponseWriter, r *http.Request, p *principal) {
	pg := s.newPage(p, "Control / Monitoring", "control")
	pg.Data = controlView{Status: s.r.Status(), Table: s.r.Snapshot()}
	s.render(w, http.StatusOK, "control.html", pg)
}

func (s *Server) tableFragment(w http.ResponseWriter, r *http.Request, p *principal) {
	pg := s.newPage(p, "", "control")
	pg.Data = controlView{Status: s.r.Status(), Table: s.r.Snapshot()}
	s.render(w, http.StatusOK, "table.html", pg)
}

// formFields reads a posted form as Fields, limited to keys; the last
// value wins, so a checkbox after its hidden "0" counts when ticked.
func formFields(r *http.Request, keys []string) Fields {
	f := Fields{}
	for _, k := range keys {
		if vs, ok := r.PostForm[k]; ok && len(vs) > 0 {
			f[k] = vs[len(vs)-1]
		}
	}
	return f
}

func merged(base, posted Fields) Fields {
	out := Fields{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range posted {
		out[k] = v
	}
	return out
}

func (s *Server) savedFlash(r *http.Request) string {
	if r.URL.Query().Get("saved") != "" {
		return fmt.Sprintf("Saved and applied: lvs.cf serial_no %d.", s.config().Global.SerialNo)
	}
	if a := r.URL.Query().Get("done"); a != "" {
		return a
	}
	return ""
}

func (s *Server) globalPage(w http.ResponseWriter, r *http.Request, p *principal) {
	pg := s.newPage(p, "Global Settings", "global")
	c := s.config()
	pg.Form = &form{Values: GlobalFields(&c.Global), Errs: FieldErrors{}, RO: !p.user.CanWrite()}
	pg.Flash = s.savedFlash(r)
	s.render(w, http.StatusOK, "global.html", pg)
}

func (s *Server) globalPost(w http.ResponseWriter, r *http.Request, p *principal) {
	s.settingsPost(w, r, p, GlobalKeys, "Global Settings", "global", "global.html")
}

func (s *Server) redundancyPage(w http.ResponseWriter, r *http.Request, p *principal) {
	pg := s.newPage(p, "Redundancy", "redundancy")
	c := s.config()
	pg.Form = &form{Values: GlobalFields(&c.Global), Errs: FieldErrors{}, RO: !p.user.CanWrite()}
	pg.Flash = s.savedFlash(r)
	pg.Data = s.r.Redundancy()
	s.render(w, http.StatusOK, "redundancy.html", pg)
}

func (s *Server) redundancyPost(w http.ResponseWriter, r *http.Request, p *principal) {
	s.settingsPost(w, r, p, RedundancyKeys, "Redundancy", "redundancy", "redundancy.html")
}

func (s *Server) settingsPost(w http.ResponseWriter, r *http.Request, p *principal, keys []string, title, tab, tmpl string) {
	f := formFields(r, keys)
	res := s.editGlobal(r.Context(), f)
	if res.ok() {
		http.Redirect(w, r, "/"+tab+"?saved=1", http.StatusSeeOther)
		return
	}
	pg := s.newPage(p, title, tab)
	c := s.config()
	pg.Form = &form{Values: merged(GlobalFields(&c.Global), f), Errs: res.Fields}
	pg.Error = formError(res)
	pg.Data = s.r.Redundancy()
	s.render(w, http.StatusBadRequest, tmpl, pg)
}

func formError(res result) string {
	if m, ok := res.Fields[""]; ok {
		return m
	}
	return "Not saved: correct the fields marked below. Nothing was changed."
}

// serviceRow is one line of the VIRTUAL SERVERS list.
type serviceRow struct {
	F       Fields
	Key     string
	Servers int
}

func (s *Server) virtualList(w http.ResponseWriter, r *http.Request, p *principal) {
	pg := s.newPage(p, "Virtual Servers", "virtual")
	c := s.config()
	var rows []serviceRow
	for i := range c.Services {
		sv := &c.Services[i]
		rows = append(rows, serviceRow{F: ServiceFields(sv), Key: sv.Key().String(), Servers: len(sv.RealServers)})
	}
	pg.Data = rows
	pg.Flash = s.savedFlash(r)
	s.render(w, http.StatusOK, "virtual.html", pg)
}

// serviceEdit is a VIRTUAL SERVER, REAL SERVER or MONITORING SCRIPTS page's
// data.
type serviceEdit struct {
	Name    string
	New     bool
	Servers []Fields
	Server  string // the real server being edited
	States  map[string]string
}

func (s *Server) virtualNew(w http.ResponseWriter, r *http.Request, p *principal) {
	pg := s.newPage(p, "Add Virtual Server", "virtual")
	d := model.DefaultService("")
	d.Device = "eth0:1"
	pg.Form = &form{Values: ServiceFields(&d), Errs: FieldErrors{}}
	pg.Data = serviceEdit{New: true}
	s.render(w, http.StatusOK, "service.html", pg)
}

func (s *Server) virtualNewPost(w http.ResponseWriter, r *http.Request, p *principal) {
	f := formFields(r, VirtualKeys)
	res := s.addService(r.Context(), f)
	if res.ok() {
		http.Redirect(w, r, "/virtual/"+url.PathEscape(f["name"])+"/real?saved=1", http.StatusSeeOther)
		return
	}
	pg := s.newPage(p, "Add Virtual Server", "virtual")
	d := model.DefaultService("")
	pg.Form = &form{Values: merged(ServiceFields(&d), f), Errs: res.Fields}
	pg.Error = formError(res)
	pg.Data = serviceEdit{New: true}
	s.render(w, http.StatusBadRequest, "service.html", pg)
}

func (s *Server) lookup(w http.ResponseWriter, name string) *model.Service {
	c := s.config()
	i, err := findService(c, name)
	if err != nil {
		s.errorPage(w, http.StatusNotFound, err.Error())
		return nil
	}
	return &c.Services[i]
}

func (s *Server) serviceEdit(sv *model.Service) serviceEdit {
	se := serviceEdit{Name: sv.Name, States: map[string]string{}}
	for i := range sv.RealServers {
		se.Servers = append(se.Servers, ServerFields(sv, &sv.RealServers[i]))
	}
	if ts := s.r.Table().Service(sv.Key()); ts != nil && sv.Active {
		for _, svc := range s.r.Snapshot().Services {
			if svc.Key != sv.Key().String() {
				continue
			}
			for _, d := range svc.Dests {
				se.States[d.Name] = d.State
			}
		}
	}
	return se
}

func (s *Server) virtualEdit(w http.ResponseWriter, r *http.Request, p *principal) {
	sv := s.lookup(w, r.PathValue("name"))
	if sv == nil {
		return
	}
	pg := s.newPage(p, "Virtual Server "+sv.Name, "virtual")
	pg.Form = &form{Values: ServiceFields(sv), Errs: FieldErrors{}, RO: !p.user.CanWrite()}
	pg.Data = s.serviceEdit(sv)
	pg.Flash = s.savedFlash(r)
	s.render(w, http.StatusOK, "service.html", pg)
}

func (s *Server) virtualEditPost(w http.ResponseWriter, r *http.Request, p *principal) {
	s.serviceFormPost(w, r, p, VirtualKeys, "service.html", "")
}

func (s *Server) monitorPage(w http.ResponseWriter, r *http.Request, p *principal) {
	sv := s.lookup(w, r.PathValue("name"))
	if sv == nil {
		return
	}
	pg := s.newPage(p, "Monitoring Scripts "+sv.Name, "virtual")
	pg.Form = &form{Values: ServiceFields(sv), Errs: FieldErrors{}, RO: !p.user.CanWrite()}
	pg.Data = s.serviceEdit(sv)
	pg.Flash = s.savedFlash(r)
	s.render(w, http.StatusOK, "monitor.html", pg)
}

func (s *Server) monitorPost(w http.ResponseWriter, r *http.Request, p *principal) {
	keys := append(append([]string{}, MonitorKeys...), config.CheckKeywords()...)
	s.serviceFormPost(w, r, p, keys, "monitor.html", "/monitor")
}

func (s *Server) serviceFormPost(w http.ResponseWriter, r *http.Request, p *principal, keys []string, tmpl, suffix string) {
	name := r.PathValue("name")
	sv := s.lookup(w, name)
	if sv == nil {
		return
	}
	f := formFields(r, keys)
	res := s.editService(r.Context(), name, f)
	if res.ok() {
		if n, ok := f["name"]; ok && strings.TrimSpace(n) != "" {
			name = strings.TrimSpace(n)
		}
		http.Redirect(w, r, "/virtual/"+url.PathEscape(name)+suffix+"?saved=1", http.StatusSeeOther)
		return
	}
	pg := s.newPage(p, "Virtual Server "+sv.Name, "virtual")
	pg.Form = &form{Values: merged(ServiceFields(sv), f), Errs: res.Fields}
	pg.Error = formError(res)
	pg.Data = s.serviceEdit(sv)
	s.render(w, http.StatusBadRequest, tmpl, pg)
}

func (s *Server) virtualOp(w http.ResponseWriter, r *http.Request, p *principal) {
	name := r.PathValue("name")
	var res result
	switch op := r.PathValue("op"); op {
	case "delete":
		res = s.deleteService(r.Context(), name)
	case "activate", "deactivate":
		res = s.setServiceActive(r.Context(), name, op == "activate")
	default:
		s.errorPage(w, http.StatusNotFound, "unknown operation "+op)
		return
	}
	if !res.ok() {
		s.errorPage(w, http.StatusBadRequest, formError(res))
		return
	}
	http.Redirect(w, r, "/virtual?saved=1", http.StatusSeeOther)
}
