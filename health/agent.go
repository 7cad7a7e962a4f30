package health

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// agentState is what a load agent last said about its server's
// availability.
type agentState uint8

const (
	agentReady agentState = iota // up/ready: no objection
	agentDrain                   // drain: weight 0, existing flows finish
	agentMaint                   // maint: out, as down
	agentDown                    // down/stopped/fail: out
	agentNone                    // the reply said nothing about state
)

var agentStateNames = [...]string{"ready", "drain", "maint", "down", ""}

func (s agentState) String() string { return agentStateNames[s] }

// agentReply is one parsed reply of the HAProxy agent-check protocol.
type agentReply struct {
	state agentState
	pct   int // -1 when the reply carried no percentage
	desc  string
	raw   string // the line as received, for Status
}

// parseAgentReply reads one agent line: words separated by spaces, tabs or
// commas, such as "up 75%", "drain", "down #disk full". The strongest state
// word wins whatever the order (down, then maint, then drain, then
// up/ready), so "up drain" and "drain up" mean the same; a reply that is only
// a percentage leaves the state as it was.
func parseAgentReply(line string) (agentReply, error) {
	if i := strings.IndexAny(line, "\r\n\x00"); i >= 0 {
		line = line[:i]
	}
	r := agentReply{state: agentNone, pct: -1, raw: line}
	if i := strings.IndexByte(line, '#'); i >= 0 {
		r.desc = strings.TrimSpace(line[i+1:])
		line = line[:i]
	}
	known := false
	for _, w := range strings.FieldsFunc(line, func(c rune) bool { return c == ' ' || c == '\t' || c == ',' }) {
		lw := strings.ToLower(w)
		var st agentState = agentNone
		switch {
		case lw == "up" || lw == "ready":
			st = agentReady
		case lw == "drain":
			st = agentDrain
		case lw == "maint":
			st = agentMaint
		case lw == "down" || lw == "stopped" || lw == "fail" || lw == "failed":
			st = agentDown
		case strings.HasSuffix(lw, "%"):
			f, err := strconv.ParseFloat(lw[:len(lw)-1], 64)
			if err != nil || f < 0 {
				return r, fmt.Errorf("bad weight %q in agent reply", w)
			}
			r.pct = int(min(f, 1e6))
			known = true
			continue
		case strings.HasPrefix(lw, "maxconn:"):
			known = true // understood, not applied: IPVS thresholds are configuration
			continue
		default:
			continue
		}
		known = true
		if r.state == agentNone || st > r.state {
			r.state = st
		}
	}
	if !known {
		return r, fmt.Errorf("unrecognised agent reply %q", clip([]byte(line)))
	}
	return r, nil
}

// pollAgent asks the agent once: connect, read one line, close.
func pollAgent(ctx context.Context, env probeEnv, spec agentSpec, deadline time.Time) (agentReply, error) {
	c, stop, err := env.connect(ctx, "tcp", netip.AddrPortFrom(spec.addr, spec.port), deadline)
	if err != nil {
		return agentReply{}, connectError(err, spec.interval)
	}
	defer closeReset(c)
	defer stop()
	buf := make([]byte, 0, 256)
	tmp := make([]byte, 256)
	for len(buf) < 1024 {
		n, err := c.Read(tmp)
		buf = append(buf, tmp[:n]...)
		if bytes.IndexByte(buf, '\n') >= 0 {
			break
		}
		if err != nil {
			if errors.Is(err, io.EOF) && len(buf) > 0 {
				break
			}
			if isTimeout(err) {
				return agentReply{}, fmt.Errorf("no agent reply within %s", spec.interval)
			}
			if errors.Is(err, io.EOF) {
				return agentReply{}, errors.New("agent closed without a reply")
			}
			return agentReply{}, fmt.Errorf("agent read: %v", unwrapOp(err))
		}
	}
	return parseAgentReply(string(buf))
}
