//go:build linux

package health

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/govs/govs/internal/testutil"
	"github.com/govs/govs/model"
	"github.com/govs/govs/scheduler"
	"github.com/govs/govs/table"
)

// The scale test checks N real servers (10,000 by default) every second
// with TCP connect checks against loopback listeners and reports the
// router's CPU time and memory. The listeners run in a child process so
// that their accept work is not counted as the router's. It is off unless
// GOVS_HEALTH_SCALE=1:
//
//	GOVS_HEALTH_SCALE=1 go test -run 'TestScale(Baseline)?$' -v -timeout 10m ./health/
//
// GOVS_HEALTH_SCALE_N and GOVS_HEALTH_SCALE_SECONDS change the number of
// servers and the measured window.
const scalePort = 9999

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// scaleAddr spreads listeners over 127.1.0.1 onwards, 250 per /24.
func scaleAddr(i int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 1, byte(i / 250), byte(i%250 + 1)}), scalePort)
}

func raiseNofile(t testing.TB) uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	return uint64(lim.Cur)
}

// TestScaleListeners is the child half: it listens until stdin closes.
func TestScaleListeners(t *testing.T) {
	n := envInt("GOVS_HEALTH_LISTENERS", 0)
	if n == 0 {
		t.Skip("child process of TestScale")
	}
	raiseNofile(t)
	for i := range n {
		testutil.Serve(t, testutil.Listen(t, "tcp", scaleAddr(i).String()), func(net.Conn) {})
	}
	fmt.Println("READY")
	bufio.NewReader(os.Stdin).ReadString('\n')
}

// startListeners runs TestScaleListeners in a child process with n
// listeners and returns once they listen; the child ends with the test.
func startListeners(t *testing.T, n int) {
	child := exec.Command(os.Args[0], "-test.run=^TestScaleListeners$")
	child.Env = append(os.Environ(), "GOVS_HEALTH_LISTENERS="+strconv.Itoa(n))
	child.Stderr = os.Stderr
	stdin, _ := child.StdinPipe()
	stdout, _ := child.StdoutPipe()
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		child.Wait()
	})
	br := bufio.NewReader(stdout)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("listener process: %v", err)
		}
		if strings.TrimSpace(line) == "READY" {
			break
		}
	}
	go func() { // drain the child's test output
		for {
			if _, err := br.ReadString('\n'); err != nil {
				return
			}
		}
	}()

}

// TestScaleBaseline measures the same connect checks with nothing around
// them (socket, connect, close with a reset, one timer per target), to
// tell the kernel's cost of a TCP check from what the package adds.
func TestScaleBaseline(t *testing.T) {
	if os.Getenv("GOVS_HEALTH_SCALE") != "1" {
		t.Skip("set GOVS_HEALTH_SCALE=1 to run the scale baseline")
	}
	n := envInt("GOVS_HEALTH_SCALE_N", 10000)
	window := time.Duration(envInt("GOVS_HEALTH_SCALE_SECONDS", 30)) * time.Second
	raiseNofile(t)
	startListeners(t, n)
	var mu sync.Mutex
	var checks, fails int
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		ap := scaleAddr(i)
		var tm *time.Timer
		wg.Add(1)
		tm = time.AfterFunc(time.Duration(i)*time.Second/time.Duration(n), func() {
			ok := false
			if c, err := startTCP(ap); err == nil {
				c.SetDeadline(time.Now().Add(time.Second))
				if c.waitConnected(context.Background()) == nil {
					ok = true
					closeReset(c)
				}
			}
			mu.Lock()
			checks++
			if !ok {
				fails++
			}
			mu.Unlock()
			select {
			case <-stop:
				wg.Done()
			default:
				tm.Reset(time.Second)
			}
		})
	}
	time.Sleep(3 * time.Second)
	mu.Lock()
	c0 := checks
	mu.Unlock()
	u0, s0 := rusage(t)
	t0 := time.Now()
	time.Sleep(window)
	u1, s1 := rusage(t)
	el := time.Since(t0)
	mu.Lock()
	c1, f := checks, fails
	mu.Unlock()
	close(stop)
	wg.Wait()
	per := func(d time.Duration) float64 { return d.Seconds() / float64(c1-c0) * 1e6 }
	t.Logf("baseline: %d checks (%.0f/s), %d failed; CPU %.1f%% of one core (user %.1f%%, sys %.1f%%; %.1f µs per check: user %.1f, sys %.1f)",
		c1-c0, float64(c1-c0)/el.Seconds(), f, 100*(u1-u0+s1-s0).Seconds()/el.Seconds(),
		100*(u1-u0).Seconds()/el.Seconds(), 100*(s1-s0).Seconds()/el.Seconds(), per(u1-u0+s1-s0), per(u1-u0), per(s1-s0))
}

func rusage(t testing.TB) (user, sys time.Duration) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}

func rssKiB() int {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			f := strings.Fields(l)
			if len(f) >= 2 {
				n, _ := strconv.Atoi(f[1])
				return n
			}
		}
	}
	return 0
}

func TestScale(t *testing.T) {
	if os.Getenv("GOVS_HEALTH_SCALE") != "1" {
		t.Skip("set GOVS_HEALTH_SCALE=1 to run the 10,000-server scale test")
	}
	n := envInt("GOVS_HEALTH_SCALE_N", 10000)
	window := time.Duration(envInt("GOVS_HEALTH_SCALE_SECONDS", 30)) * time.Second
	nofile := raiseNofile(t)
	if nofile < uint64(n)+1000 {
		t.Fatalf("RLIMIT_NOFILE %d is too low for %d servers", nofile, n)
	}

	startListeners(t, n)

	// 100 real servers per service, services on consecutive virtual ports.
	cfg := &model.Config{}
	perSvc := 100
	for s := 0; s*perSvc < n; s++ {
		svc := model.Service{Name: fmt.Sprint("svc", s), Active: true, Proto: model.ProtoTCP,
			VIP: netip.MustParseAddr("192.0.2.1"), Port: uint16(8000 + s), Scheduler: model.SchedWLC,
			Check: model.Check{Interval: time.Second, Reentry: 3 * time.Second}}
		for i := s * perSvc; i < min(n, (s+1)*perSvc); i++ {
			svc.RealServers = append(svc.RealServers, realServer(scaleAddr(i), 10))
		}
		cfg.Services = append(cfg.Services, svc)
	}
	tbl := table.New(table.Options{NewScheduler: scheduler.New})
	if _, err := tbl.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	heapOf := func() uint64 {
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	heapTable := heapOf()
	m := New(tbl, Options{})
	m.Apply(cfg)
	heapApplied := heapOf()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()

	totals := func() (checks, failures uint64, down int) {
		for _, s := range m.Status() {
			checks += s.Checks
			failures += s.Failures
			if s.State != "up" {
				down++
			}
		}
		return
	}
	// Warm up: the start-up burst (every first check at once) and the
	// random phases settling.
	start := time.Now()
	testutil.WaitFor(t, 60*time.Second, "every first check", func() bool {
		c, _, _ := totals()
		return c >= uint64(n)
	})
	burst := time.Since(start)
	time.Sleep(3 * time.Second)

	runtime.GC()
	c0, f0, _ := totals()
	u0, s0 := rusage(t)
	t0 := time.Now()
	time.Sleep(window)
	u1, s1 := rusage(t)
	t1 := time.Now()
	c1, f1, down := totals()

	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	heapInuse := ms.HeapInuse
	runtime.GC()
	runtime.ReadMemStats(&ms)
	el := t1.Sub(t0)
	cpu := u1 - u0 + s1 - s0
	rate := float64(c1-c0) / el.Seconds()
	frac := cpu.Seconds() / el.Seconds()
	t.Logf("servers %d, interval 1s, GOMAXPROCS %d, first checks of all servers done in %s", n, runtime.GOMAXPROCS(0), burst.Round(time.Millisecond))
	t.Logf("window %s: %d checks (%.0f/s), %d failed, %d monitors not up", el.Round(time.Millisecond), c1-c0, rate, f1-f0, down)
	per := func(d time.Duration) float64 { return d.Seconds() / float64(c1-c0) * 1e6 }
	t.Logf("CPU user+sys %s = %.1f%% of one core (user %.1f%%, sys %.1f%%; %.1f µs per check: user %.1f, sys %.1f)",
		cpu.Round(time.Millisecond), 100*frac, 100*(u1-u0).Seconds()/el.Seconds(), 100*(s1-s0).Seconds()/el.Seconds(),
		per(cpu), per(u1-u0), per(s1-s0))
	t.Logf("live heap: table and config %.1f MiB; health monitors add %.1f MiB at Apply (%.0f bytes per server), %.1f MiB running",
		float64(heapTable)/(1<<20), float64(heapApplied-heapTable)/(1<<20), float64(heapApplied-heapTable)/float64(n),
		float64(ms.HeapAlloc-heapTable)/(1<<20))
	t.Logf("memory: heap in use %.1f MiB (live after GC %.1f MiB, %d objects), Go sys %.1f MiB, RSS %.1f MiB, goroutines %d",
		float64(heapInuse)/(1<<20), float64(ms.HeapAlloc)/(1<<20), ms.HeapObjects, float64(ms.Sys)/(1<<20),
		float64(rssKiB())/1024, runtime.NumGoroutine())
	var lat []time.Duration
	errs := map[string]int{}
	for _, s := range m.Status() {
		lat = append(lat, s.Latency.Duration())
		if s.LastError != "" {
			errs[s.LastError]++
		}
	}
	if len(errs) > 0 {
		t.Logf("last errors seen: %v", errs)
	}
	slices.Sort(lat)
	t.Logf("latest check latency: p50 %s p90 %s p99 %s max %s", lat[len(lat)/2], lat[len(lat)*9/10], lat[len(lat)*99/100], lat[len(lat)-1])
	if rate < 0.9*float64(n) {
		t.Errorf("only %.0f checks/s for %d servers at 1 s", rate, n)
	}
	if f1 != f0 || down != 0 {
		t.Errorf("%d failures, %d monitors not up against live listeners", f1-f0, down)
	}
}
