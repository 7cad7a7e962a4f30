package config

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/govs/govs/internal/suggest"
	"github.com/govs/govs/model"
)

// keyPos remembers where each keyword of a block was set and which ones had
// a bad value, so later checks point at the right line and stay quiet about
// values already reported.
type keyPos struct {
	lines map[string]int
	bad   map[string]bool
}

func newKeyPos() keyPos { return keyPos{lines: map[string]int{}, bad: map[string]bool{}} }

type srvState struct {
	r       model.RealServer
	line    int
	kp      keyPos
	portSet bool
}

type svcState struct {
	s         model.Service
	line      int
	kp        keyPos
	servers   []*srvState
	sorry     netip.Addr
	sorryPort int // -1 unless sorry_server named a port
	extra     map[string]string
	failover  bool // a failover block: checked for syntax, then dropped
	orphan    bool // a stand-in for a server block found outside any virtual
	broken    bool // its opening line was malformed
}

type parser struct {
	file  string
	cfg   model.Config
	gkp   keyPos
	svcs  []*svcState
	cur   *svcState
	srv   *srvState
	line  int
	errs  []Finding
	warns []Finding
}

// Load reads and parses the file at path. A file that cannot be read
// gives the *fs.PathError as is, so callers can test for fs.ErrNotExist.
func Load(path string) (*model.Config, *Result, error) {
	src, err := ReadFile(path)
	if err != nil {
		return nil, &Result{}, err
	}
	return Parse(path, src)
}

// Parse reads lvs.cf text; name is the file name used in messages. On
// success it returns the model and the warnings. Otherwise the error is an
// ErrorList holding every error found, and the model is nil. It knows no
// data plane: ParseWith also holds the file against one.
func Parse(name string, src []byte) (*model.Config, *Result, error) {
	return ParseWith(name, src, nil)
}

// PlaneCheck says which data plane ParseWith holds a file against.
type PlaneCheck struct {
	Caps model.Capabilities
	// Strict makes what the plane cannot do an error, with its
	// FILE:LINE; otherwise it is a warning, with Note after it.
	Strict bool
	Note   string
}

// ParseForPlane is Parse for a file that must run on the plane whose
// capabilities are caps: what it cannot do is an error. govs run uses it
// once it knows its plane.
func ParseForPlane(name string, src []byte, caps model.Capabilities) (*model.Config, *Result, error) {
	return ParseWith(name, src, &PlaneCheck{Caps: caps, Strict: true})
}

// ParseWith is Parse, then, with pc, CheckPlane with the file's lines.
func ParseWith(name string, src []byte, pc *PlaneCheck) (*model.Config, *Result, error) {
	p := &parser{file: name, gkp: newKeyPos()}
	p.cfg.Global = model.DefaultGlobal()
	res := &Result{}
	if strings.Trim(string(src), " \t\r\n") == "" {
		return nil, res, ErrorList{{File: name, Message: "empty configuration"}}
	}
	p.run(src)
	p.finishGlobal()

	k := &checker{c: &p.cfg, file: name, pos: p.positions()}
	k.check()
	if pc != nil {
		k.note = pc.Note
		k.plane(pc.Caps, pc.Strict)
	}
	p.errs = append(p.errs, k.errs...)
	p.warns = append(p.warns, k.warns...)

	sortFindings(p.warns)
	res.Warnings = p.warns
	if len(p.errs) > 0 {
		sortFindings(p.errs)
		return nil, res, ErrorList(p.errs)
	}
	// A copy, so that the parser, with its positions and lines, does not
	// live as long as the configuration it made.
	cfg := p.cfg
	return &cfg, res, nil
}

func (p *parser) errorf(line int, format string, args ...any) {
	p.errs = append(p.errs, Finding{File: p.file, Line: line, Message: fmt.Sprintf(format, args...)})
}

func (p *parser) warnf(line int, format string, args ...any) {
	if p.cur != nil && (p.cur.failover || p.cur.orphan) {
		return
	}
	p.warns = append(p.warns, Finding{File: p.file, Line: line, Message: fmt.Sprintf(format, args...)})
}

func (p *parser) run(src []byte) {
	for i, text := range splitLines(src) {
		p.line = i + 1
		trimmed := strings.TrimLeft(text, " \t")
		if trimmed == "" || trimmed[0] == '#' {
			continue
		}
		toks, ok := tokenize(trimmed)
		if !ok {
			p.errorf(p.line, "quotation mismatch")
			continue
		}
		p.statement(toks)
	}
	p.line = 0
	if p.srv != nil {
		p.errorf(p.srv.line, "server %q is not closed (missing \"}\")", p.srv.r.Name)
		p.closeServer()
	}
	if p.cur != nil {
		if p.cur.failover {
			p.errorf(p.cur.line, "failover %q is not closed (missing \"}\")", p.cur.s.Name)
		} else {
			p.errorf(p.cur.line, "virtual %q is not closed (missing \"}\")", p.cur.s.Name)
		}
		p.closeVirtual()
	}
}

func (p *parser) statement(toks []token) {
	first := toks[0]
	if first.isStruct("}") {
		if len(toks) > 1 {
			p.errorf(p.line, "unexpected arguments after \"}\"")
		}
		switch {
		case p.srv != nil:
			p.closeServer()
		case p.cur != nil:
			p.closeVirtual()
		default:
			p.errorf(p.line, "\"}\" without an open block")
		}
		return
	}
	switch first.text {
	case "virtual", "failover":
		if p.srv != nil {
			p.errorf(p.line, "%s block inside server %q (missing \"}\"?)", first.text, p.srv.r.Name)
			p.closeServer()
		}
		if p.cur != nil {
			p.errorf(p.line, "%s block inside %s (missing \"}\"?)", first.text, p.cur.describe())
			p.closeVirtual()
		}
		p.openVirtual(toks, first.text == "failover")
		return
	case "server":
		if p.srv != nil {
			p.errorf(p.line, "server block inside server %q (missing \"}\"?)", p.srv.r.Name)
			p.closeServer()
		}
		if p.cur == nil {
			p.errorf(p.line, "server block outside a virtual block")
			p.cur = &svcState{orphan: true, kp: newKeyPos()}
		}
		p.openServer(toks)
		return
	}
	switch {
	case p.srv != nil:
		p.keyword(toks, serverKeywords, &p.srv.kp, "server "+quoteName(p.srv.r.Name))
	case p.cur != nil:
		p.keyword(toks, virtualKeywords, &p.cur.kp, p.cur.describe())
	default:
		p.keyword(toks, globalKeywords, &p.gkp, "")
	}
}

func (st *svcState) describe() string {
	if st.failover {
		return "failover " + quoteName(st.s.Name)
	}
	return "virtual " + quoteName(st.s.Name)
}

func quoteName(s string) string { return fmt.Sprintf("%q", s) }

// blockName checks a block opener, `KIND NAME {`. A malformed opener still
// opens the block: the lines that follow almost certainly belong to it, and
// reading them as such avoids a cascade of misplaced-keyword errors.
func (p *parser) blockName(toks []token) (string, bool) {
	kind := toks[0].text
	switch {
	case len(toks) < 3:
		p.errorf(p.line, "%s: missing arguments (want: %s NAME {)", kind, kind)
	case len(toks) > 3:
		p.errorf(p.line, "%s: unexpected arguments (want: %s NAME {)", kind, kind)
	case !toks[2].isStruct("{"):
		p.errorf(p.line, "%s: \"{\" expected after the name", kind)
	case toks[1].text == "":
		p.errorf(p.line, "%s: empty name", kind)
	default:
		return toks[1].text, true
	}
	if len(toks) > 1 {
		return toks[1].text, false
	}
	return "", false
}

func (p *parser) openVirtual(toks []token, failover bool) {
	name, ok := p.blockName(toks)
	st := &svcState{s: model.DefaultService(name), line: p.line, kp: newKeyPos(), sorryPort: -1,
		failover: failover, broken: !ok}
	p.cur = st
	if failover {
		p.warns = append(p.warns, Finding{File: p.file, Line: p.line,
			Message: fmt.Sprintf("ignored: failover %s (failover services are not supported; govs runs virtual servers)", quoteName(name))})
	}
}

func (p *parser) openServer(toks []token) {
	name, ok := p.blockName(toks)
	if !ok {
		p.cur.broken = true
	}
	p.srv = &srvState{r: model.DefaultRealServer(name), line: p.line, kp: newKeyPos()}
}

func (p *parser) closeServer() {
	p.cur.servers = append(p.cur.servers, p.srv)
	p.srv = nil
	if p.cur.orphan {
		p.cur = nil
	}
}

// closeVirtual resolves what depends on the whole block (the real servers'
// default port, the sorry server's port) and files the service.
func (p *parser) closeVirtual() {
	st := p.cur
	p.cur = nil
	s := &st.s
	for _, rs := range st.servers {
		if !rs.portSet {
			// A mark service bundles ports, so a real server without a port
			// keeps the client's destination port, as IPVS does when
			// ipvsadm is given none; Piranha always passed the virtual
			// port, which sends every bundled port to one.
			if s.FWMark != 0 {
				rs.r.Port = 0
			} else {
				rs.r.Port = s.Port
			}
		}
		s.RealServers = append(s.RealServers, rs.r)
	}
	st.finish()
	if st.failover || st.broken {
		return
	}
	p.svcs = append(p.svcs, st)
	p.cfg.Services = append(p.cfg.Services, st.s)
}

// finish resolves what the keywords of a virtual block leave to its end:
// the sorry server's port, the check extensions, a persistence mask of
// the address's full length (which means none).
func (st *svcState) finish() {
	s := &st.s
	if st.sorry.IsValid() {
		// The sorry server stands in for the real servers, so it takes the
		// port they take by default.
		port := s.DefaultServerPort()
		if st.sorryPort >= 0 {
			port = uint16(st.sorryPort)
		}
		s.Sorry = netip.AddrPortFrom(st.sorry, port)
	}
	if len(st.extra) > 0 {
		s.Check.Extra = st.extra
	}
	if s.VIP.IsValid() && s.Persistence.PrefixLen == familyBits(int(model.FamilyOf(s.VIP))) {
		s.Persistence.PrefixLen = 0
	}
}

// finishGlobal applies Piranha's end-of-file rule: without primary_private
// both private addresses are the public ones, whatever backup_private said.
func (p *parser) finishGlobal() {
	g := &p.cfg.Global
	_, sawPrimary := p.gkp.lines["primary"]
	_, sawPP := p.gkp.lines["primary_private"]
	if sawPrimary && !sawPP && !p.gkp.bad["primary"] {
		g.PrimaryPrivate = g.Primary
		if line, ok := p.gkp.lines["backup_private"]; ok && g.BackupPrivate != g.Backup {
			p.warns = append(p.warns, Finding{File: p.file, Line: line,
				Message: "ignored: backup_private (without primary_private the private heartbeat addresses are the public ones)"})
		}
		g.BackupPrivate = g.Backup
	}
}

// keyword handles a `keyword = value...` line.
func (p *parser) keyword(toks []token, table *kwTable, kp *keyPos, where string) {
	key := toks[0].text
	def := table.lookup(key)
	if def == nil {
		msg := fmt.Sprintf("unknown keyword %q", key)
		if where != "" {
			msg += " in " + where
		}
		switch {
		case strings.Contains(key, "="):
			msg += " (put blanks around \"=\")"
		case table.elsewhere(key) != "":
			msg += " (" + key + " belongs in " + table.elsewhere(key) + ")"
		default:
			msg += suggest.Hint(key, table.names())
		}
		p.errorf(p.line, "%s", msg)
		return
	}
	if prev, dup := kp.lines[key]; dup {
		p.warnf(p.line, "duplicate keyword %q (also on line %d); the last one wins", key, prev)
	}
	kp.lines[key] = p.line
	delete(kp.bad, key)
	fail := func(format string, args ...any) {
		kp.bad[key] = true
		p.errorf(p.line, "%s: %s", key, fmt.Sprintf(format, args...))
	}
	if len(toks) < 2 || !toks[1].isStruct("=") {
		fail("equal (=) expected after command")
		return
	}
	vals := toks[2:]
	if def.n >= 0 {
		if len(vals) < def.n {
			fail("missing arguments")
			return
		}
		if len(vals) > def.n {
			if strings.HasPrefix(vals[def.n].text, "#") && vals[def.n].quote == 0 {
				fail("unexpected arguments (comments must be on a line of their own)")
			} else {
				fail("unexpected arguments")
			}
			return
		}
	}
	if err := def.set(p, vals); err != nil {
		fail("%v", err)
		return
	}
	if def.ignored != "" {
		p.warnf(p.line, "ignored: %s (%s)", key, def.ignored)
	}
}
