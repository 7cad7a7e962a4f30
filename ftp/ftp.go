// Package ftp rewrites the addresses an FTP control connection carries, for
// a proxy that stands between the client and the FTP server.
//
// FTP announces data connection endpoints inside the control connection:
// the server's passive replies (227 for PASV, 229 for EPSV) name where the
// client should connect, and the client's PORT and EPRT commands name where
// the server should connect. Behind a proxy neither endpoint is reachable
// by the other side as announced, so a proxy must substitute endpoints of
// its own. This package finds those lines and substitutes the endpoints;
// everything else, including the rest of a rewritten line and its line
// ending, passes byte for byte.
//
// A Filter handles one direction of the stream. It works on whatever the
// socket returns, so a line may arrive in any number of pieces; only bytes
// that may still become a rewritable line are held back, and at most
// MaxLine of them, so ordinary traffic is never delayed waiting for a line
// end. Once the server accepts AUTH TLS (reply 234) the control connection
// is encrypted and both filters of a Pair pass everything unchanged.
package ftp

import (
	"bytes"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
)

// MaxLine is the longest line, with its ending, that is rewritten. Longer
// lines pass unchanged; RFC 959 lines are far shorter, and the bound keeps
// what a Filter holds small whatever a peer sends.
const MaxLine = 512

// Kind is what a rewritable line announces.
type Kind uint8

// The rewritable lines.
const (
	// PASV is a "227 Entering Passive Mode (h1,h2,h3,h4,p1,p2)" reply.
	PASV Kind = iota + 1
	// EPSV is a "229 Entering Extended Passive Mode (|||port|)" reply; it
	// carries a port only, on the address of the control connection.
	EPSV
	// PORT is a "PORT h1,h2,h3,h4,p1,p2" command.
	PORT
	// EPRT is an "EPRT |af|addr|port|" command (RFC 2428).
	EPRT
)

// String names the kind as the command that asks for it.
func (k Kind) String() string {
	switch k {
	case PASV:
		return "PASV"
	case EPSV:
		return "EPSV"
	case PORT:
		return "PORT"
	case EPRT:
		return "EPRT"
	}
	return "none"
}

// Match is a recognised line.
type Match struct {
	Kind Kind
	// Addr is the announced endpoint. For EPSV only its port is set (the
	// address is the zero Addr).
	Addr netip.AddrPort

	line       []byte // the whole line, with its ending
	start, end int    // the bytes Replace substitutes
	delim      byte   // EPRT's delimiter
}

// Replace returns the line with its endpoint replaced by ap, everything
// else unchanged. ok is false when the line cannot express ap: PASV and
// PORT carry IPv4 only, EPRT needs an address that does not hold the
// line's delimiter.
func (m Match) Replace(ap netip.AddrPort) (line []byte, ok bool) {
	var mid []byte
	switch m.Kind {
	case PASV, PORT:
		a := ap.Addr().Unmap()
		if !a.Is4() {
			return nil, false
		}
		b := a.As4()
		p := ap.Port()
		for i, v := range []byte{b[0], b[1], b[2], b[3], byte(p >> 8), byte(p)} {
			if i > 0 {
				mid = append(mid, ',')
			}
			mid = strconv.AppendUint(mid, uint64(v), 10)
		}
	case EPSV:
		mid = strconv.AppendUint(nil, uint64(ap.Port()), 10)
	case EPRT:
		a := ap.Addr()
		if !a.IsValid() {
			return nil, false
		}
		a = a.Unmap()
		af := byte('1')
		if a.Is6() {
			af = '2'
		}
		text := a.WithZone("").String()
		// RFC 2428 lets the client choose the delimiter, and ":", "." or a
		// hex letter are printable too: an address of the other family
		// may hold it, and the peer would cut the field there and read
		// another endpoint.
		if strings.IndexByte(text, m.delim) >= 0 {
			return nil, false
		}
		mid = append(mid, af, m.delim)
		mid = append(mid, text...)
		mid = append(mid, m.delim)
		mid = strconv.AppendUint(mid, uint64(ap.Port()), 10)
	default:
		return nil, false
	}
	out := make([]byte, 0, len(m.line)-(m.end-m.start)+len(mid))
	out = append(out, m.line[:m.start]...)
	out = append(out, mid...)
	return append(out, m.line[m.end:]...), true
}

// ParseReply recognises a complete server reply line (with or without its
// ending) announcing a passive endpoint. Only single-line (final) replies
// are recognised: "227-" continuation lines are not.
func ParseReply(line []byte) (Match, bool) {
	if len(line) > MaxLine || len(line) < 4 || line[3] != ' ' {
		return Match{}, false
	}
	switch string(line[:3]) {
	case "227":
		return parsePASV(line)
	case "229":
		return parseEPSV(line)
	}
	return Match{}, false
}

// ParseCommand recognises a complete client command line (with or without
// its ending) naming an active-mode endpoint. Command names are
// case-insensitive (RFC 959).
func ParseCommand(line []byte) (Match, bool) {
	if len(line) > MaxLine || len(line) < 5 || line[4] != ' ' {
		return Match{}, false
	}
	switch {
	case equalFold(line[:4], "PORT"):
		return parsePORT(line)
	case equalFold(line[:4], "EPRT"):
		return parseEPRT(line)
	}
	return Match{}, false
}

// parsePASV finds the first six comma-separated numbers after the code, as
// RFC 1123 4.1.2.6 tells clients to, since servers word the reply freely.
func parsePASV(line []byte) (Match, bool) {
	for i := 4; i < len(line); i++ {
		if !isDigit(line[i]) || isDigit(line[i-1]) {
			continue
		}
		if v, end, ok := sixNumbers(line, i); ok {
			return Match{Kind: PASV, Addr: v, line: line, start: i, end: end}, true
		}
	}
	return Match{}, false
}

// parseEPSV reads "(<d><d><d>port<d>)" (RFC 2428).
func parseEPSV(line []byte) (Match, bool) {
	i := bytes.IndexByte(line, '(')
	if i < 0 || i+5 > len(line) {
		return Match{}, false
	}
	d := line[i+1]
	if d < 33 || d > 126 || isDigit(d) || line[i+2] != d || line[i+3] != d {
		return Match{}, false
	}
	s := i + 4
	port, e, ok := number(line, s, 65535)
	if !ok || e+1 >= len(line) || line[e] != d || line[e+1] != ')' {
		return Match{}, false
	}
	return Match{Kind: EPSV, Addr: netip.AddrPortFrom(netip.Addr{}, uint16(port)), line: line, start: s, end: e}, true
}

func parsePORT(line []byte) (Match, bool) {
	i := 5
	for i < len(line) && line[i] == ' ' {
		i++
	}
	v, end, ok := sixNumbers(line, i)
	if !ok || !onlyEnding(line[end:]) {
		return Match{}, false
	}
	return Match{Kind: PORT, Addr: v, line: line, start: i, end: end}, true
}

// parseEPRT reads "EPRT <d>af<d>addr<d>port<d>".
func parseEPRT(line []byte) (Match, bool) {
	if len(line) < 6 {
		return Match{}, false
	}
	d := line[5]
	if d < 33 || d > 126 || isDigit(d) {
		return Match{}, false
	}
	rest := line[6:]
	f := bytes.SplitN(rest, []byte{d}, 4)
	if len(f) != 4 || !onlyEnding(f[3]) {
		return Match{}, false
	}
	a, err := netip.ParseAddr(string(f[1]))
	if err != nil || a.Zone() != "" {
		return Match{}, false
	}
	switch string(f[0]) {
	case "1":
		if !a.Is4() {
			return Match{}, false
		}
	case "2":
		if !a.Is6() {
			return Match{}, false
		}
	default:
		return Match{}, false
	}
	port, e, ok := number(f[2], 0, 65535)
	if !ok || e != len(f[2]) {
		return Match{}, false
	}
	start := 6
	end := start + len(f[0]) + 1 + len(f[1]) + 1 + len(f[2])
	return Match{Kind: EPRT, Addr: netip.AddrPortFrom(a, uint16(port)), line: line, start: start, end: end, delim: d}, true
}

// sixNumbers reads h1,h2,h3,h4,p1,p2 at line[i:].
func sixNumbers(line []byte, i int) (netip.AddrPort, int, bool) {
	var v [6]byte
	for k := range 6 {
		if k > 0 {
			if i >= len(line) || line[i] != ',' {
				return netip.AddrPort{}, 0, false
			}
			i++
		}
		n, e, ok := number(line, i, 255)
		if !ok {
			return netip.AddrPort{}, 0, false
		}
		v[k] = byte(n)
		i = e
	}
	a := netip.AddrFrom4([4]byte{v[0], v[1], v[2], v[3]})
	return netip.AddrPortFrom(a, uint16(v[4])<<8|uint16(v[5])), i, true
}

// number reads a decimal of at most 5 digits and at most max at b[i:].
func number(b []byte, i int, max uint64) (uint64, int, bool) {
	s := i
	var n uint64
	for i < len(b) && isDigit(b[i]) && i-s < 5 {
		n = n*10 + uint64(b[i]-'0')
		i++
	}
	if i == s || n > max || (i < len(b) && isDigit(b[i])) {
		return 0, 0, false
	}
	return n, i, true
}

// onlyEnding reports whether b is empty or a line ending, possibly after
// spaces.
func onlyEnding(b []byte) bool {
	b = bytes.TrimLeft(b, " ")
	return len(b) == 0 || string(b) == "\n" || string(b) == "\r\n"
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func equalFold(b []byte, upper string) bool {
	if len(b) != len(upper) {
		return false
	}
	for i := range b {
		c := b[i]
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		if c != upper[i] {
			return false
		}
	}
	return true
}

// Rewrite decides a recognised line's new endpoint; ok false keeps the line
// as it is. A proxy that cannot offer a passive endpoint must not pass the
// server's on, which the client cannot reach and which would tell it the
// server's address: a reply's Rewrite that returns the zero AddrPort with
// ok true has the reply replaced by Refusal, the reply RFC 959 gives for a
// data connection that cannot be opened. A command's line is kept then.
type Rewrite func(m Match) (ap netip.AddrPort, ok bool)

// Refusal is the text that replaces a refused passive reply, before the
// line's own ending.
const Refusal = "425 Can't open data connection."

// Filter rewrites one direction of a control connection. The zero Filter
// is not usable: make them with NewPair.
type Filter struct {
	replies bool // server to client: replies; else commands
	rewrite Rewrite
	shared  *pairState

	held []byte // the start of a line that may still be rewritable
	mid  bool   // inside a line already passed on unchanged
}

type pairState struct {
	tls atomic.Bool // AUTH TLS accepted: the rest is ciphertext
}

// NewPair returns the filters of one control connection: toServer for the
// client's commands (rewriting PORT and EPRT with cmd) and toClient for the
// server's replies (rewriting 227 and 229 with reply). A nil function keeps
// its lines.
func NewPair(cmd, reply Rewrite) (toServer, toClient *Filter) {
	st := &pairState{}
	return &Filter{rewrite: cmd, shared: st}, &Filter{replies: true, rewrite: reply, shared: st}
}

// Feed filters p, the next bytes of the stream, appending what may be sent
// on to out. Bytes that may start a rewritable line are kept until the
// line ends; Flush releases them when the stream ends.
func (f *Filter) Feed(out, p []byte) []byte {
	for len(p) > 0 {
		if f.shared.tls.Load() {
			out = append(out, f.held...)
			f.held = f.held[:0]
			return append(out, p...)
		}
		if f.mid {
			i := bytes.IndexByte(p, '\n')
			if i < 0 {
				return append(out, p...)
			}
			out = append(out, p[:i+1]...)
			p = p[i+1:]
			f.mid = false
			continue
		}
		i := bytes.IndexByte(p, '\n')
		if i >= 0 && len(f.held)+i+1 <= MaxLine {
			var line []byte
			if len(f.held) > 0 {
				f.held = append(f.held, p[:i+1]...)
				line = f.held
			} else {
				line = p[:i+1]
			}
			out = f.line(out, line)
			f.held = f.held[:0]
			p = p[i+1:]
			continue
		}
		if i < 0 && len(f.held)+len(p) < MaxLine && f.candidate(f.held, p) {
			f.held = append(f.held, p...)
			return out
		}
		// Not rewritable or too long: pass the line on as it comes.
		out = append(out, f.held...)
		f.held = f.held[:0]
		f.mid = true
	}
	return out
}

// Flush returns out with any held bytes appended, unchanged: at the end of
// the stream an unfinished line is not a command or reply.
func (f *Filter) Flush(out []byte) []byte {
	out = append(out, f.held...)
	f.held = f.held[:0]
	return out
}

// Held reports how many bytes Feed holds back.
func (f *Filter) Held() int { return len(f.held) }

// line filters one complete line.
func (f *Filter) line(out, line []byte) []byte {
	var m Match
	var ok bool
	if f.replies {
		m, ok = ParseReply(line)
		if !ok && len(line) >= 4 && string(line[:4]) == "234 " {
			// The server accepted AUTH TLS/SSL; the client sends its
			// handshake only after this reply, so both directions see the
			// switch before any ciphertext.
			f.shared.tls.Store(true)
		}
	} else {
		m, ok = ParseCommand(line)
	}
	if ok && f.rewrite != nil {
		if ap, yes := f.rewrite(m); yes {
			if f.replies && ap == (netip.AddrPort{}) {
				out = append(out, Refusal...)
				if bytes.HasSuffix(line, []byte("\r\n")) {
					return append(out, '\r', '\n')
				}
				return append(out, '\n')
			}
			if nl, fits := m.Replace(ap); fits {
				return append(out, nl...)
			}
		}
	}
	return append(out, line...)
}

// candidate reports whether held+p, the start of a line, may still become a
// rewritable line.
func (f *Filter) candidate(held, p []byte) bool {
	var pre [5]byte
	n := copy(pre[:], held)
	n += copy(pre[n:], p)
	b := pre[:n]
	if f.replies {
		return prefixOf(b, "227 ") || prefixOf(b, "229 ") || prefixOf(b, "234 ")
	}
	return prefixOfFold(b, "PORT ") || prefixOfFold(b, "EPRT ")
}

// prefixOf reports whether b and s agree on their common length.
func prefixOf(b []byte, s string) bool {
	n := min(len(b), len(s))
	return string(b[:n]) == s[:n]
}

func prefixOfFold(b []byte, upper string) bool {
	n := min(len(b), len(upper))
	return equalFold(b[:n], upper[:n])
}
