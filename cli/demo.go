package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/govs/govs/config"
	"github.com/govs/govs/control"
	"github.com/govs/govs/demo"
)

func cmdDemo(e *env, args []string) int {
	c := commands()["demo"]
	fs := newFlags(e, c)
	socket := socketFlag(fs)
	level := fs.String("log-level", "info", "log level: debug, info, warn or error")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	log, err := newLogger(e.stderr, *level, "text")
	if err != nil {
		fmt.Fprintln(e.stderr, "govs demo:", err)
		return ExitUsage
	}
	dir, err := os.MkdirTemp("", "govs-demo-")
	if err != nil {
		fmt.Fprintln(e.stderr, "govs demo:", err)
		return ExitFailure
	}
	defer os.RemoveAll(dir)
	cfgPath := filepath.Join(dir, "lvs.cf")
	if err := os.WriteFile(cfgPath, demo.Config, 0o600); err != nil {
		fmt.Fprintln(e.stderr, "govs demo:", err)
		return ExitFailure
	}
	cfg, _, err := config.Parse(cfgPath, demo.Config)
	if err != nil {
		fmt.Fprintln(e.stderr, "govs demo: embedded configuration:", err)
		return ExitFailure
	}
	// The control socket first: a second demo is refused before it
	// binds the real servers' ports.
	ln, ok := listenControl(e, "demo", *socket, control.SocketOptions{})
	if !ok {
		return ExitFailure
	}
	rs, err := demo.Start(cfg)
	if err != nil {
		ln.Close()
		fmt.Fprintln(e.stderr, "govs demo:", err)
		return ExitFailure
	}
	defer rs.Close()
	sock := ""
	if *socket != control.DefaultSocketPath() {
		sock = " --socket " + *socket
	}
	banner := func() {
		fmt.Fprintf(e.stdout, `govs demo: the router is running on loopback (configuration: %s).
Demo real servers: %s.

Try, in another terminal:
  curl http://127.0.0.100:8080/     # firewall-mark bundle 80: ports 8080 and 8443, persistent
  curl http://127.0.0.100:8443/     # ... the same real server answers on the other port
  curl http://127.0.0.100:9000/     # weighted round robin: api1 three times as often as api2
  go run ./cmd/govs list%s          # the table, like ipvsadm -L -n (add --stats, --rate, -c)
Edit %s and run "go run ./cmd/govs reload%s" to reload without dropping connections.
Press Ctrl-C to stop.
`, cfgPath, strings.Join(rs.Addrs, ", "), sock, cfgPath, sock)
	}
	return runRouter(e, log, cfgPath, ln, *socket, 2*time.Second, banner)
}
