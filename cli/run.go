package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/govs/govs/config"
	"github.com/govs/govs/control"
	"github.com/govs/govs/dataplane"
	"github.com/govs/govs/dataplane/planes"
	"github.com/govs/govs/model"
	"github.com/govs/govs/router"
	"github.com/govs/govs/scheduler"
	"github.com/govs/govs/table"
)

// newPlane builds the data plane lvs.cf asks for. auto takes the first
// plane this host can run (the kernel's IPVS as root on a kernel that has
// it, else the userspace proxy) and says which and why.
func newPlane(name string, t *table.Table, log *slog.Logger) (dataplane.Plane, error) {
	reg, passed, err := planes.All().Choose(name)
	if err != nil {
		return nil, err
	}
	if name == "" || name == "auto" {
		why := passed
		if reg.Caps.Needs != "" {
			why = "this host has " + reg.Caps.Needs
		}
		log.Info("dataplane auto: using the "+reg.Caps.Title+" plane", "why", why)
	}
	return reg.New(t, log)
}

// filePlane is the check for the plane a file names, as warnings.
func filePlane(all dataplane.Registry, name string) *config.PlaneCheck {
	caps, note, ok := all.ForFile(name)
	if !ok {
		return nil
	}
	return &config.PlaneCheck{Caps: caps, Note: note}
}

func available(reg dataplane.Registration) bool {
	ok, _ := reg.Available()
	return ok
}

// routerAPI adapts a router to the control socket.
type routerAPI struct{ r *router.Router }

func (a routerAPI) History() []config.Revision { return a.r.History() }
func (a routerAPI) Revision(n int) (config.Revision, []byte, string, error) {
	return a.r.Revision(n)
}

func (a routerAPI) Rollback(ctx context.Context, n int) (config.Revision, error) {
	_, err := a.r.Rollback(router.WithAuthor(ctx, "cli"), n)
	switch {
	case err == nil:
		h := a.r.History()
		return h[len(h)-1], nil
	case errors.Is(err, config.ErrNoRevision):
		return config.Revision{}, &control.StatusError{Code: http.StatusNotFound, Err: err}
	case errors.Is(err, router.ErrInvalid):
		return config.Revision{}, &control.StatusError{Code: http.StatusUnprocessableEntity, Err: err}
	}
	return config.Revision{}, &control.StatusError{Code: http.StatusConflict, Err: err}
}

func (a routerAPI) Snapshot() table.Snapshot         { return a.r.Snapshot() }
func (a routerAPI) Conns() []table.ConnStatus        { return a.r.Conns() }
func (a routerAPI) Reload(ctx context.Context) error { return a.r.Reload(ctx) }
func (a routerAPI) Status() router.Status            { return a.r.Status() }

func cmdRun(e *env, args []string) int {
	c := commands()["run"]
	fs := newFlags(e, c)
	cfgPath := fs.String("c", DefaultConfig, "the lvs.cf configuration `file`")
	socket := socketFlag(fs)
	drain := fs.Duration("drain-timeout", 30*time.Second, "on stop, how long open connections may take to finish")
	group := fs.String("socket-group", "", "a `group` whose members may read through the control socket (status, list) but change nothing")
	level := fs.String("log-level", "info", "log level: debug, info, warn or error")
	format := fs.String("log-format", "text", "log format: text or json")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	log, err := newLogger(e.stderr, *level, *format)
	if err != nil {
		fmt.Fprintln(e.stderr, "govs run:", err)
		return ExitUsage
	}
	ln, ok := listenControl(e, "run", *socket, control.SocketOptions{ReadGroup: *group})
	if !ok {
		return ExitFailure
	}
	return runRouter(e, log, *cfgPath, ln, *socket, *drain, nil)
}

// listenControl takes the control socket. Commands that run a router take
// it before they bind anything else: a second router on the same socket
// is refused before it holds a port.
func listenControl(e *env, cmd, socket string, so control.SocketOptions) (net.Listener, bool) {
	ln, err := control.ListenWith(socket, so)
	if err != nil {
		fmt.Fprintf(e.stderr, "govs %s: control socket: %v\n", cmd, err)
		return nil, false
	}
	return ln, true
}

// runRouter runs a router on cfgPath, serving the control socket on ln,
// until SIGTERM/SIGINT or e.ctx ends; ready, if set, is called once it
// serves.
func runRouter(e *env, log *slog.Logger, cfgPath string, ln net.Listener, socket string, drain time.Duration, ready func()) int {
	ctx, stop := signal.NotifyContext(e.ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	r, err := router.New(ctx, router.Options{ConfigPath: cfgPath, Version: Version, Logger: log,
		NewScheduler: scheduler.New, NewPlane: newPlane, ReloadGCPercent: 25})
	if err != nil {
		ln.Close()
		fmt.Fprintf(e.stderr, "govs run: %v\n", err)
		return ExitFailure
	}
	srv := control.NewServer(routerAPI{r}, log)
	go func() {
		if err := srv.Serve(ln); err != nil {
			log.Error("control socket stopped", "error", err)
		}
	}()
	log.Info("control socket ready", "path", socket)
	stopWeb, err := startWeb(ctx, log, r, cfgPath)
	if err != nil {
		fmt.Fprintf(e.stderr, "govs run: web tool: %v\n", err)
		_ = srv.Shutdown(context.Background())
		_ = r.Close(0)
		return ExitFailure
	}
	defer stopWeb()

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				log.Info("SIGHUP: reloading")
				_ = r.Reload(ctx)
			}
		}
	}()
	if ready != nil {
		ready()
	}
	err = r.Run(ctx, drain)
	sctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	if err != nil {
		fmt.Fprintf(e.stderr, "govs run: %v\n", err)
		return ExitFailure
	}
	return ExitOK
}

func cmdCheck(e *env, args []string) int {
	c := commands()["check"]
	fs := newFlags(e, c)
	cfgPath := fs.String("c", DefaultConfig, "the lvs.cf configuration `file`")
	plane := fs.String("dataplane", "", "also check that this data plane (proxy, ipvs) can carry the file; errors instead of warnings")
	strict := fs.Bool("strict", false, "fail on warnings too (for CI pipelines that keep lvs.cf clean)")
	pos, code, ok := parsePositional(fs, args, 1)
	if !ok {
		return code
	}
	if len(pos) == 1 {
		// govs check FILE, as one types it.
		*cfgPath = pos[0]
	}
	all := planes.All()
	reg, named := all.Lookup(*plane)
	if *plane != "" && !named {
		fmt.Fprintf(e.stderr, "govs check: --dataplane %q: want %s\n", *plane, strings.Join(all.Names(), " or "))
		return ExitUsage
	}
	src, err := config.ReadFile(*cfgPath)
	if err != nil {
		fmt.Fprintln(e.stderr, "govs check:", err)
		return ExitFailure
	}
	pc := &config.PlaneCheck{Caps: reg.Caps, Strict: true}
	if !named {
		// The plane the file asks for, as warnings: govs check passes any
		// valid Piranha file, and says what govs run would refuse.
		pc = nil
		if c, _, err := config.Parse(*cfgPath, src); err == nil {
			pc = filePlane(all, c.Global.Dataplane)
		}
	}
	cfg, res, err := config.ParseWith(*cfgPath, src, pc)
	if res != nil {
		for _, w := range res.Warnings {
			fmt.Fprintf(e.stderr, "%s (warning)\n", w.String())
		}
	}
	if err != nil {
		fmt.Fprintln(e.stderr, err)
		return ExitFailure
	}
	if n := len(res.Warnings); *strict && n > 0 {
		fmt.Fprintf(e.stderr, "%s: %d warning(s), refused by --strict\n", *cfgPath, n)
		return ExitFailure
	}
	if named && reg.Schedulers != nil && (reg.Available == nil || available(reg)) {
		// On the router itself: what the file asks of the host that it
		// cannot do would be refused at run time.
		missing := false
		seen := map[model.Scheduler]bool{}
		for _, s := range cfg.Services {
			sc := s.Scheduler
			if sc == "" {
				sc = model.SchedWLC
			}
			if !s.Active || seen[sc] {
				continue
			}
			seen[sc] = true
			if ok, why := reg.Schedulers(sc); !ok {
				fmt.Fprintf(e.stderr, "%s: virtual %s: scheduler = %s: %s\n", *cfgPath, s.Name, sc, why)
				missing = true
			}
		}
		if missing {
			return ExitFailure
		}
	}
	active, reals, marks := 0, 0, 0
	for _, s := range cfg.Services {
		if !s.Active {
			continue
		}
		active++
		if s.FWMark != 0 {
			marks++
		}
		for _, rs := range s.RealServers {
			if rs.Active {
				reals++
			}
		}
	}
	fmt.Fprintf(e.stdout, "%s: OK: %d virtual services (%d active, %d firewall-mark), %d active real servers, serial_no %d\n",
		*cfgPath, len(cfg.Services), active, marks, reals, cfg.Global.SerialNo)
	return ExitOK
}
