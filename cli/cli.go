// Package cli implements the govs command line: run, check, list, reload,
// history, rollback, status, realserver, health, demo, passwd and version.
// cmd/govs is a thin shim over Main, which makes every command testable
// in-process.
//
// Exit codes mean the same for every command: 0 success, 1 the operation
// failed (an invalid configuration, a refused reload, a router error),
// 2 a usage error, 3 no router answers on the control socket.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"

	"github.com/govs/govs/internal/suggest"
)

// Exit codes.
const (
	ExitOK          = 0
	ExitFailure     = 1
	ExitUsage       = 2
	ExitUnreachable = 3
)

// Version is the govs version, set at build time with
// -ldflags "-X github.com/govs/govs/cli.Version=...".
var Version = "0.1.0-dev"

// DefaultConfig is Piranha's configuration path, so existing routers need no
// flag.
const DefaultConfig = "/etc/sysconfig/ha/lvs.cf"

// env is what a command runs with: its streams and a context.
type env struct {
	ctx    context.Context
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

type command struct {
	name    string
	summary string
	usage   string
	run     func(e *env, args []string) int
}

func commands() map[string]*command {
	cmds := []*command{
		{"run", "run the router in the foreground", "govs run [-c FILE] [--socket PATH] [--drain-timeout D] [--log-level L] [--log-format text|json]", cmdRun},
		{"check", "validate a configuration file", "govs check [-c FILE | FILE] [--dataplane NAME] [--strict]", cmdCheck},
		{"list", "show the running router's table, like ipvsadm -L -n", "govs list [-L|-l] [-n] [--stats | --rate | --thresholds | --persistent-conn] [--exact] [--nosort]\n       [-t|-u VIP:PORT | -f MARK] [-c] [--timeout] [--json] [--socket PATH]", cmdList},
		{"zero", "zero the counters and rates of a service or of all, like ipvsadm -Z", "govs zero [NAME | -t|-u VIP:PORT | -f MARK] [--socket PATH]", cmdZero},
		{"reload", "make the running router re-read its configuration", "govs reload [--socket PATH]", cmdReload},
		{"history", "list the revisions of lvs.cf that ran, or show one's diff", "govs history [REVISION] [--text] [--json] [--socket PATH]", cmdHistory},
		{"rollback", "make a revision of lvs.cf run again, as a new change", "govs rollback REVISION [--socket PATH]", cmdRollback},
		{"status", "show the running router's status", "govs status [--json] [--socket PATH]", cmdStatus},
		{"realserver", "override a real server's state, or set a real server up for direct routing or tunnelling", "govs realserver disable|enable|drain|clear ADDR[:PORT] [--service NAME|KEY] [--socket PATH]\n       govs realserver setup --mode direct|tunnel --vip VIP [--apply]", cmdRealServer},
		{"health", "show the real-server health monitors", "govs health [--json] [--socket PATH]", cmdHealth},
		{"demo", "run a router with demo real servers on loopback", "govs demo [--socket PATH]", cmdDemo},
		{"passwd", "set a web-tool user's password, role or API token", "govs passwd [-c FILE | -f USERS] [-u USER] [--role admin|readonly] [--token] [--keep-password] [--delete]", cmdPasswd},
		{"version", "print the version", "govs version", cmdVersion},
	}
	m := map[string]*command{}
	for _, c := range cmds {
		m[c.name] = c
	}
	return m
}

// Main runs the command line args and returns the exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return MainContext(context.Background(), args, stdin, stdout, stderr)
}

// MainContext is Main with a context whose cancellation stops a running
// router as SIGTERM does.
func MainContext(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr}
	cmds := commands()
	if len(args) == 0 {
		usage(stderr, cmds)
		return ExitUsage
	}
	switch args[0] {
	case "help", "-h", "--help", "-help":
		if len(args) > 1 {
			if c, ok := cmds[args[1]]; ok {
				// Flags are declared by each command, so let it print them.
				return c.run(e, []string{"-h"})
			}
			fmt.Fprintf(stderr, "govs: unknown command %q%s\n", args[1], suggest.Hint(args[1], commandNames(cmds)))
			return ExitUsage
		}
		usage(stdout, cmds)
		return ExitOK
	case "--version", "-version":
		return cmdVersion(e, nil)
	}
	c, ok := cmds[args[0]]
	if !ok {
		if hint := suggest.Hint(args[0], commandNames(cmds)); hint != "" {
			fmt.Fprintf(stderr, "govs: unknown command %q%s\n", args[0], hint)
			return ExitUsage
		}
		fmt.Fprintf(stderr, "govs: unknown command %q\n\n", args[0])
		usage(stderr, cmds)
		return ExitUsage
	}
	return c.run(e, args[1:])
}

func commandNames(cmds map[string]*command) []string {
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func usage(w io.Writer, cmds map[string]*command) {
	fmt.Fprintln(w, "govs: an LVS router (virtual services, real servers, firewall-mark bundles, persistence)")
	fmt.Fprintln(w, "\nUsage: govs COMMAND [flags]\n\nCommands:")
	for _, n := range commandNames(cmds) {
		fmt.Fprintf(w, "  %-8s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nRun `govs help COMMAND` for a command's flags.")
	fmt.Fprintln(w, "Exit codes: 0 success, 1 failure, 2 usage error, 3 no router on the control socket.")
}

// newFlags returns the command's flag set, printing usage on its stderr.
func newFlags(e *env, c *command) *flag.FlagSet {
	fs := flag.NewFlagSet("govs "+c.name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "%s\n\nUsage: %s\n", c.summary, c.usage)
		var any bool
		fs.VisitAll(func(*flag.Flag) { any = true })
		if any {
			fmt.Fprintln(fs.Output(), "\nFlags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

// parse parses args, returning an exit code when the command should stop.
func parse(fs *flag.FlagSet, args []string) (int, bool) {
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK, false
		}
		return ExitUsage, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "%s: unexpected arguments: %s\n", fs.Name(), strings.Join(fs.Args(), " "))
		return ExitUsage, false
	}
	return 0, true
}

// parseFlags parses args into fs. A mistake is told in a line of its own
// with what was likely meant and where the flags are listed, rather than
// with the whole usage; -h prints the usage.
func parseFlags(fs *flag.FlagSet, args []string) error {
	out := fs.Output()
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	fs.SetOutput(out)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, flag.ErrHelp):
		fs.Usage()
		return err
	}
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		var names []string
		fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
		if c, ok := suggest.Closest(strings.TrimPrefix(name, "-"), names); ok {
			msg += fmt.Sprintf(" (did you mean %s?)", flagName(c))
		}
	}
	fmt.Fprintf(out, "%s: %s\nRun `govs help %s` for its flags.\n", fs.Name(), msg, strings.TrimPrefix(fs.Name(), "govs "))
	return err
}

// flagName spells a flag as its help does: -x, --long.
func flagName(n string) string {
	if len(n) == 1 {
		return "-" + n
	}
	return "--" + n
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("bad --log-level %q (want debug, info, warn or error)", level)
	}
	o := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, o)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, o)), nil
	}
	return nil, fmt.Errorf("bad --log-format %q (want text or json)", format)
}

func cmdVersion(e *env, args []string) int {
	fmt.Fprintf(e.stdout, "govs %s\n", Version)
	return ExitOK
}

// isRoot reports whether the process runs as root.
func isRoot() bool { return os.Geteuid() == 0 }
