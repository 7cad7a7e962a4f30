package health

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// programArgs splits send_program as nanny did (strtok on spaces, at most
// 40 arguments), replacing tokens that are exactly %h or %p.
func programArgs(line string, addr netip.Addr, port uint16) []string {
	var args []string
	for _, tok := range strings.Split(line, " ") {
		switch tok {
		case "":
			continue
		case "%h":
			tok = addr.String()
		case "%p":
			tok = strconv.Itoa(int(port))
		}
		args = append(args, tok)
		if len(args) == 40 {
			break
		}
	}
	return args
}

// programProbe runs send_program without a shell.
type programProbe struct {
	args    []string
	expect  string
	timeout time.Duration
}

// limitedBuffer keeps the first max bytes written and swallows the rest,
// so a chatty program cannot grow the router's memory or block on a full
// pipe.
type limitedBuffer struct {
	buf []byte
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - len(l.buf); room > 0 {
		l.buf = append(l.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (p *programProbe) check(ctx context.Context, deadline time.Time) error {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, p.args[0], p.args[1:]...)
	out := &limitedBuffer{max: 4095}
	cmd.Stdout = out // stdin and stderr stay /dev/null, as nanny had them
	cleanup := setKillGroup(cmd)
	// The verdict is the program's exit: children it left holding stdout
	// are not waited for beyond this.
	cmd.WaitDelay = 100 * time.Millisecond
	err := cmd.Run()
	cleanup()
	ps := cmd.ProcessState
	if ctx.Err() != nil && (ps == nil || !ps.Exited()) {
		if errors.Is(ctx.Err(), context.Canceled) {
			return errors.New("check cancelled")
		}
		return fmt.Errorf("program timed out after %s", p.timeout)
	}
	if ps == nil {
		return fmt.Errorf("program: %v", err)
	}
	if !ps.Exited() {
		if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return fmt.Errorf("program killed by signal %s", ws.Signal())
		}
		return fmt.Errorf("program: %v", err)
	}
	if code := ps.ExitCode(); code != 0 {
		return fmt.Errorf("program exited with status %d", code)
	}
	if p.expect == "" {
		return nil
	}
	got := strings.TrimSuffix(string(out.buf), "\n")
	if got != p.expect {
		return fmt.Errorf("program printed %q, expected %q", clip([]byte(got)), p.expect)
	}
	return nil
}
