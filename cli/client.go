package cli

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/govs/govs/control"
	"github.com/govs/govs/router"
)

// clientFailure reports a control-socket error and picks the exit code.
func clientFailure(e *env, cmd string, err error) int {
	fmt.Fprintf(e.stderr, "govs %s: %v\n", cmd, err)
	if errors.Is(err, control.ErrNotRunning) {
		return ExitUnreachable
	}
	return ExitFailure
}

// socketFlag defines --socket, where the router listens and every command
// that talks to it dials.
func socketFlag(fs *flag.FlagSet) *string {
	return fs.String("socket", control.DefaultSocketPath(), "the control socket `path`")
}

func writeJSON(e *env, v any) int {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintln(e.stderr, "govs:", err)
		return ExitFailure
	}
	return ExitOK
}

func cmdReload(e *env, args []string) int {
	c := commands()["reload"]
	fs := newFlags(e, c)
	socket := socketFlag(fs)
	if code, ok := parse(fs, args); !ok {
		return code
	}
	st, err := control.Dial(*socket).Reload(e.ctx)
	if err != nil {
		if errors.Is(err, control.ErrNotRunning) {
			return clientFailure(e, "reload", err)
		}
		fmt.Fprintf(e.stderr, "govs reload: refused; the running configuration stays:\n%v\n", err)
		return ExitFailure
	}
	fmt.Fprintf(e.stdout, "reloaded: %s (reloads: %d applied, %d refused)\n", st.LastChange, st.Reloads, st.ReloadErrors)
	return ExitOK
}

func cmdStatus(e *env, args []string) int {
	c := commands()["status"]
	fs := newFlags(e, c)
	asJSON := fs.Bool("json", false, "print JSON for scripts")
	socket := socketFlag(fs)
	if code, ok := parse(fs, args); !ok {
		return code
	}
	st, err := control.Dial(*socket).Status(e.ctx)
	if err != nil {
		return clientFailure(e, "status", err)
	}
	if *asJSON {
		return writeJSON(e, st)
	}
	fmt.Fprintf(e.stdout, "govs %s, pid %d, %s plane, up %s\nconfig %s, serial_no %d, %d reloads applied, %d refused\n",
		st.Version, st.PID, st.Plane, time.Since(st.Started).Round(time.Second), st.ConfigPath, st.SerialNo,
		st.Reloads, st.ReloadErrors)
	if st.LastChange != "" {
		fmt.Fprintf(e.stdout, "last change: %s\n", st.LastChange)
	}
	if st.LastReloadError != "" {
		fmt.Fprintf(e.stdout, "last reload refused:\n%s\n", st.LastReloadError)
	}
	if st.Redundancy.Enabled {
		fmt.Fprintf(e.stdout, "role%s\n", roleNote(st))
	} else if st.Role != "" {
		fmt.Fprintf(e.stdout, "role %s (no backup router)\n", st.Role)
	}
	if s := st.Sockets; s != nil {
		fmt.Fprintf(e.stdout, "sockets %d of %d (tcp %d, udp %d)", s.InUse, s.Limit, s.TCP, s.UDP)
		if s.MaxConns > 0 {
			fmt.Fprintf(e.stdout, ", %d of max_conns %d", s.Conns, s.MaxConns)
		}
		if s.RefusedTCP+s.RefusedUDP > 0 {
			fmt.Fprintf(e.stdout, ", refused %d tcp connections and %d udp flows", s.RefusedTCP, s.RefusedUDP)
		}
		if s.DroppedUDP > 0 {
			fmt.Fprintf(e.stdout, ", %d udp datagrams dropped at full receive buffers", s.DroppedUDP)
		}
		fmt.Fprintln(e.stdout)
	}
	if st.LastReloadError != "" {
		fmt.Fprintf(e.stdout, "last reload refused:\n%s\n", st.LastReloadError)
	}
	return ExitOK
}

// roleNote describes a redundant router's role for title lines: its role,
// its partner and how long ago the partner's last advert arrived. Empty
// for a lone router, whose listings stay as they were.
func roleNote(st router.Status) string {
	red := st.Redundancy
	if !red.Enabled {
		return ""
	}
	s := fmt.Sprintf(" [%s, peer %s", st.Role, red.Peer)
	if red.LastAdvert.IsZero() {
		s += ", no advert seen"
	} else {
		s += fmt.Sprintf(", last advert %s ago from %s", time.Since(red.LastAdvert).Round(time.Millisecond), red.LastAdvertFrom)
	}
	return s + "]"
}
