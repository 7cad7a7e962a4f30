package cli

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/govs/govs/control"
)

// parsePositional parses flags and up to max positional arguments, in any
// order (govs history 3 --json as well as govs history --json 3).
func parsePositional(fs *flag.FlagSet, args []string, max int) ([]string, int, bool) {
	pos, err := parseInterspersed(fs, args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return nil, ExitOK, false
	case err != nil:
		return nil, ExitUsage, false
	}
	if len(pos) > max {
		fmt.Fprintf(fs.Output(), "%s: unexpected arguments: %s\n", fs.Name(), strings.Join(pos[max:], " "))
		return nil, ExitUsage, false
	}
	return pos, 0, true
}

func revisionArg(e *env, cmd, s string) (int, bool) {
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		fmt.Fprintf(e.stderr, "govs %s: %q is not a revision number (see govs history)\n", cmd, s)
		return 0, false
	}
	return n, true
}

func cmdHistory(e *env, args []string) int {
	c := commands()["history"]
	fs := newFlags(e, c)
	asJSON := fs.Bool("json", false, "print JSON for scripts")
	text := fs.Bool("text", false, "with a REVISION, print its lvs.cf text instead of its diff")
	socket := socketFlag(fs)
	pos, code, ok := parsePositional(fs, args, 1)
	if !ok {
		return code
	}
	cl := control.Dial(*socket)
	if len(pos) == 1 {
		n, ok := revisionArg(e, "history", pos[0])
		if !ok {
			return ExitUsage
		}
		v, err := cl.Revision(e.ctx, n)
		if err != nil {
			return clientFailure(e, "history", err)
		}
		switch {
		case *asJSON:
			return writeJSON(e, v)
		case *text:
			fmt.Fprint(e.stdout, v.Text)
		default:
			fmt.Fprintf(e.stdout, "revision %d, serial_no %d, %s by %s (%s)\n", v.N, v.Serial,
				v.Time.Format("2006-01-02 15:04:05 UTC"), v.Author, v.Action)
			fmt.Fprint(e.stdout, v.Diff)
		}
		return ExitOK
	}
	revs, err := cl.History(e.ctx)
	if err != nil {
		return clientFailure(e, "history", err)
	}
	if *asJSON {
		return writeJSON(e, revs)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "REV\tSERIAL\tTIME (UTC)\tAUTHOR\tACTION\tLINES")
	for _, r := range revs {
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%s\t+%d -%d\n", r.N, r.Serial, r.Time.Format("2006-01-02 15:04:05"),
			r.Author, r.Action, r.Added, r.Removed)
	}
	tw.Flush()
	return ExitOK
}

func cmdRollback(e *env, args []string) int {
	c := commands()["rollback"]
	fs := newFlags(e, c)
	socket := socketFlag(fs)
	pos, code, ok := parsePositional(fs, args, 1)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		fmt.Fprintf(e.stderr, "govs rollback: which revision? (usage: %s; see govs history)\n", c.usage)
		return ExitUsage
	}
	n, ok := revisionArg(e, "rollback", pos[0])
	if !ok {
		return ExitUsage
	}
	rev, err := control.Dial(*socket).Rollback(e.ctx, n)
	if err != nil {
		if errors.Is(err, control.ErrNotRunning) {
			return clientFailure(e, "rollback", err)
		}
		fmt.Fprintf(e.stderr, "govs rollback: refused; the running configuration stays:\n%v\n", err)
		return ExitFailure
	}
	fmt.Fprintf(e.stdout, "rolled back to revision %d: running as revision %d, serial_no %d\n", n, rev.N, rev.Serial)
	return ExitOK
}
