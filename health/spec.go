package health

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/govs/govs/model"
	"golang.org/x/net/dns/dnsmessage"
)

// Defaults that nanny used or that govs chose where nanny had nothing.
const (
	// DefaultInterval is nanny's -t default, used when Check.Interval is 0.
	DefaultInterval = 10 * time.Second
	// DefaultStatus is the HTTP status list accepted when check_status is
	// unset: success and redirects, as HAProxy's httpchk.
	DefaultStatus = "200-399"
	// DefaultRampStep is the period of one slow-start doubling when
	// slowstart is unset: nanny's adjustWeight ran about every 20 s.
	DefaultRampStep = 20 * time.Second
	// defaultSend and defaultExpect are nanny's web check, used on virtual
	// port 80 when nothing is configured.
	defaultSend   = `GET / HTTP/1.0\r\n\r\n`
	defaultExpect = "HTTP"
	// maxBody bounds how much of an HTTP body check_body sees.
	maxBody = 64 << 10
)

// kind is a probe type.
type kind uint8

const (
	kindNone kind = iota
	kindTCP
	kindUDP
	kindHTTP
	kindHTTPS
	kindDNS
	kindProgram
)

var kindNames = [...]string{"none", "tcp", "udp", "http", "https", "dns", "program"}

func (k kind) String() string { return kindNames[k] }

// probeSpec is everything that decides a monitor's verdict. It is
// comparable: together with the address and check port it is the key under
// which services share one monitor. Per-service actions (quiesce, weight,
// slow start) are not part of it.
type probeSpec struct {
	kind     kind
	interval time.Duration
	rise     int
	fall     int

	// tcp, udp: nanny's probe, escapes already translated.
	send, expect string
	regex        bool

	// program: the raw send_program line (tokens substituted at build).
	program string

	// http, https.
	path, host, status, body, sni string
	tlsVerify                     bool

	// dns.
	dnsName  string
	dnsType  dnsmessage.Type
	dnsRcode int
}

// agentSpec is a load agent's identity: one agent poller per address, port
// and interval, shared like monitors.
type agentSpec struct {
	addr     netip.Addr
	port     uint16
	interval time.Duration
}

// bindSpec is how one (service, real server) pair is monitored, derived
// from the configuration.
type bindSpec struct {
	svc       model.ServiceKey
	svcName   string
	dest      model.DestKey
	weight    int
	quiesce   bool
	slowstart time.Duration // total ramp time; <0: nanny's per-step default; 0: off
	addr      netip.Addr
	port      uint16     // check port
	probe     *probeSpec // after Apply, the interned spec of its monitor
	agent     *agentSpec
	problems  []string // configuration the probe cannot honour, logged at Apply
}

// extra returns an Extra keyword's trimmed value.
func extra(c *model.Check, key string) (string, bool) {
	v, ok := c.Extra[key]
	return strings.TrimSpace(v), ok && strings.TrimSpace(v) != ""
}

// buildSpec derives a real server's monitoring from its service's Check.
func buildSpec(svc *model.Service, rs model.RealServer) bindSpec {
	c := &svc.Check
	b := bindSpec{
		svc:       svc.Key(),
		svcName:   svc.Name,
		dest:      rs.Key(),
		weight:    rs.Weight,
		quiesce:   c.Quiesce,
		slowstart: -1,
		addr:      rs.Addr.Unmap(),
		probe:     &probeSpec{},
	}
	// The check port is the real server's port; a port-0 real server (a
	// firewall-mark service keeping the client's port) is checked on the
	// virtual port, as lvsd passed nanny -p vport -r vport.
	b.port = rs.Port
	if b.port == 0 {
		b.port = svc.Port
	}
	if v, ok := extra(c, model.KeyCheckPort); ok {
		if p, err := parsePort(v); err == nil {
			b.port = p
		} else {
			b.problems = append(b.problems, err.Error())
		}
	}
	if v, ok := extra(c, model.KeySlowstart); ok {
		if n, err := strconv.Atoi(v); err == nil && n >= 0 {
			b.slowstart = time.Duration(n) * time.Second
		} else {
			b.problems = append(b.problems, fmt.Sprintf("slowstart %q is not a number of seconds", v))
		}
	}

	p := b.probe
	p.interval = c.Interval
	if p.interval <= 0 {
		p.interval = DefaultInterval
	}
	// nanny: countThresh = reentry / interval, integer division.
	p.rise = max(1, int(c.Reentry/p.interval))
	p.fall = 1
	if v, ok := extra(c, model.KeyRise); ok {
		if n, err := strconv.Atoi(v); err == nil && n >= 1 {
			p.rise = n
		}
	}
	if v, ok := extra(c, model.KeyFall); ok {
		if n, err := strconv.Atoi(v); err == nil && n >= 1 {
			p.fall = n
		}
	}

	proto := svc.Proto
	typ, explicit := extra(c, model.KeyCheckType)
	typ = strings.ToLower(typ)
	if !explicit {
		switch {
		case c.SendProgram != "":
			typ = "program"
		case proto == model.ProtoUDP:
			typ = "udp"
		default:
			typ = "tcp"
		}
	}
	switch typ {
	case "none":
		p.kind = kindNone
	case "tcp", "udp":
		p.kind = kindTCP
		if typ == "udp" {
			p.kind = kindUDP
		}
		p.send, p.expect, p.regex = unescape(c.Send), unescape(c.Expect), c.UseRegex
		// nanny's web default: only when nothing at all is configured, so
		// `check_type = tcp` on port 80 asks for a plain connect.
		if !explicit && svc.Port == 80 && c.Send == "" && c.Expect == "" && c.SendProgram == "" {
			p.send, p.expect, p.regex = unescape(defaultSend), defaultExpect, false
		}
	case "program":
		p.kind = kindProgram
		p.program = c.SendProgram
		p.expect = unescape(c.Expect)
		if strings.TrimSpace(p.program) == "" {
			b.problems = append(b.problems, "check_type = program needs send_program")
		}
	case "http", "https":
		p.kind = kindHTTP
		if typ == "https" {
			p.kind = kindHTTPS
		}
		p.path, _ = extra(c, model.KeyCheckPath)
		if p.path == "" {
			p.path = "/"
		}
		p.host, _ = extra(c, model.KeyCheckHost)
		p.status, _ = extra(c, model.KeyCheckStatus)
		if p.status == "" {
			p.status = DefaultStatus
		}
		if _, err := parseStatus(p.status); err != nil {
			b.problems = append(b.problems, err.Error())
		}
		p.body, _ = extra(c, model.KeyCheckBody)
		if v, ok := extra(c, model.KeyCheckTLSVerify); ok {
			p.tlsVerify = v == "1"
		}
		p.sni, _ = extra(c, model.KeyCheckSNI)
	case "dns":
		p.kind = kindDNS
		p.dnsName, _ = extra(c, model.KeyDNSName)
		if p.dnsName == "" {
			p.dnsName = "."
		}
		if !strings.HasSuffix(p.dnsName, ".") {
			p.dnsName += "."
		}
		p.dnsType = dnsmessage.TypeA
		if v, ok := extra(c, model.KeyDNSType); ok {
			t, err := parseDNSType(v)
			if err != nil {
				b.problems = append(b.problems, err.Error())
			}
			p.dnsType = t
		}
		if v, ok := extra(c, model.KeyDNSRcode); ok {
			r, err := parseRcode(v)
			if err != nil {
				b.problems = append(b.problems, err.Error())
			}
			p.dnsRcode = r
		}
	default:
		b.problems = append(b.problems, fmt.Sprintf("unknown check_type %q", typ))
		p.kind = kindTCP
	}
	if p.kind == kindNone {
		// Nothing decides health: keep the key minimal so that every
		// unmonitored service shares nothing by accident.
		*p = probeSpec{kind: kindNone}
	}

	if v, ok := extra(c, model.KeyAgentPort); ok {
		port, err := parsePort(v)
		if err != nil {
			b.problems = append(b.problems, err.Error())
		} else {
			a := &agentSpec{addr: b.addr, port: port, interval: c.Interval}
			if a.interval <= 0 {
				a.interval = DefaultInterval
			}
			if iv, ok := extra(c, model.KeyAgentInterval); ok {
				if n, err := strconv.Atoi(iv); err == nil && n >= 1 {
					a.interval = time.Duration(n) * time.Second
				}
			}
			b.agent = a
		}
	}
	return b
}

// unescape translates nanny's escapes (convert_str): \n \r \t \\ \" \'.
// Any other backslash is kept as written, as nanny did.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			sb.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case 'n':
			sb.WriteByte('\n')
		case 'r':
			sb.WriteByte('\r')
		case 't':
			sb.WriteByte('\t')
		case '\\', '"', '\'':
			sb.WriteByte(s[i+1])
		default:
			sb.WriteByte('\\')
			sb.WriteByte(s[i+1])
		}
		i++
	}
	return sb.String()
}

func parsePort(s string) (uint16, error) {
	if n, err := strconv.ParseUint(s, 0, 16); err == nil && n > 0 {
		return uint16(n), nil
	}
	if p, ok := model.LookupPort(s); ok {
		return p, nil
	}
	return 0, fmt.Errorf("invalid port %q", s)
}

// statusRange is an inclusive range of HTTP status codes.
type statusRange struct{ lo, hi int }

// parseStatus reads "200-299,301".
func parseStatus(s string) ([]statusRange, error) {
	var out []statusRange
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, err1 := strconv.Atoi(strings.TrimSpace(lo))
		b, err2 := a, error(nil)
		if isRange {
			b, err2 = strconv.Atoi(strings.TrimSpace(hi))
		}
		if err1 != nil || err2 != nil || a < 100 || b > 599 || a > b {
			return nil, fmt.Errorf("invalid check_status %q", s)
		}
		out = append(out, statusRange{a, b})
	}
	return out, nil
}

var dnsTypes = map[string]dnsmessage.Type{
	"A": dnsmessage.TypeA, "AAAA": dnsmessage.TypeAAAA, "ANY": dnsmessage.TypeALL,
	"CAA": 257, "CNAME": dnsmessage.TypeCNAME, "DNSKEY": 48, "DS": 43,
	"HTTPS": dnsmessage.TypeHTTPS, "MX": dnsmessage.TypeMX, "NAPTR": 35,
	"NS": dnsmessage.TypeNS, "PTR": dnsmessage.TypePTR, "SOA": dnsmessage.TypeSOA,
	"SRV": dnsmessage.TypeSRV, "SVCB": dnsmessage.TypeSVCB, "TXT": dnsmessage.TypeTXT,
}

// parseDNSType reads a mnemonic, "TYPE65" or a number.
func parseDNSType(s string) (dnsmessage.Type, error) {
	u := strings.ToUpper(s)
	if t, ok := dnsTypes[u]; ok {
		return t, nil
	}
	n, err := strconv.ParseUint(strings.TrimPrefix(u, "TYPE"), 10, 16)
	if err != nil {
		return dnsmessage.TypeA, fmt.Errorf("invalid dns_type %q", s)
	}
	return dnsmessage.Type(n), nil
}

var rcodeNames = []string{"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
	"YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE"}

// parseRcode reads a mnemonic or a number up to 4095 (extended codes).
func parseRcode(s string) (int, error) {
	for i, n := range rcodeNames {
		if strings.EqualFold(s, n) {
			return i, nil
		}
	}
	n, err := strconv.ParseUint(s, 10, 12)
	if err != nil {
		return 0, fmt.Errorf("invalid dns_rcode %q", s)
	}
	return int(n), nil
}

func rcodeName(r int) string {
	if r >= 0 && r < len(rcodeNames) {
		return rcodeNames[r]
	}
	return "RCODE" + strconv.Itoa(r)
}

func dnsTypeName(t dnsmessage.Type) string {
	for n, v := range dnsTypes {
		if v == t {
			return n
		}
	}
	return "TYPE" + strconv.Itoa(int(t))
}

// checkDef is a probe definition interned by the Manager: the thousands of
// monitors that run the same check share one copy and its description.
type checkDef struct {
	spec probeSpec
	desc string
	id   string // defID: names the definition without showing it
	refs int    // monitors using it
}

// defID is a short digest of everything that defines a check: stable
// across restarts, different for checks that differ in anything (a
// timeout, a send string), and revealing nothing of what they send.
func defID(sp *probeSpec) string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%#v", *sp)))
	return hex.EncodeToString(sum[:6])
}

// describe renders the probe for Status and logs.
func (p *probeSpec) describe() string {
	var sb strings.Builder
	sb.WriteString(p.kind.String())
	switch p.kind {
	case kindTCP, kindUDP:
		if p.send == "" && p.expect == "" {
			if p.kind == kindTCP {
				sb.WriteString(" connect")
			}
		}
		if p.send != "" {
			fmt.Fprintf(&sb, " send %q", p.send)
		}
		if p.expect != "" {
			if p.regex {
				fmt.Fprintf(&sb, " expect /%s/", p.expect)
			} else {
				fmt.Fprintf(&sb, " expect %q", p.expect)
			}
		}
	case kindProgram:
		fmt.Fprintf(&sb, " %q", p.program)
		if p.expect != "" {
			fmt.Fprintf(&sb, " expect %q", p.expect)
		}
	case kindHTTP, kindHTTPS:
		fmt.Fprintf(&sb, " GET %s status %s", p.path, p.status)
		if p.host != "" {
			fmt.Fprintf(&sb, " host %s", p.host)
		}
		if p.body != "" {
			fmt.Fprintf(&sb, " body /%s/", p.body)
		}
		if p.kind == kindHTTPS {
			if p.sni != "" {
				fmt.Fprintf(&sb, " sni %s", p.sni)
			}
			if p.tlsVerify {
				sb.WriteString(" verify")
			}
		}
	case kindDNS:
		fmt.Fprintf(&sb, " %s %s rcode %s", dnsTypeName(p.dnsType), p.dnsName, rcodeName(p.dnsRcode))
	}
	return sb.String()
}
