package health

import (
	"syscall"
	"testing"
	"time"

	"github.com/govs/govs/internal/testutil"
	"github.com/govs/govs/model"
	"github.com/govs/govs/table"
)

// A check that cannot run for a reason of this host's (here: no file
// descriptor left, EMFILE) says nothing about the real server: it is
// counted as a local error, and the server stays up.
func TestLocalErrorIsNoVerdict(t *testing.T) {
	s1 := newServer(t, "127.0.0.2", nil)
	r := newRig(t, Options{})
	check := model.Check{Interval: tick, Extra: map[string]string{model.KeySlowstart: "0"}}
	svc := service("web", 8080, check, realServer(s1.addr, 1))
	r.apply(&model.Config{Services: []model.Service{svc}})
	r.run()
	sk, k1 := svc.Key(), key(s1.addr)
	testutil.WaitFor(t, 2*time.Second, "the first check", func() bool { return r.monitor(k1).State == "up" })

	// No new descriptor for a few check intervals: with a soft limit of
	// 0 every open fails with EMFILE, while those open go on working.
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	low := lim
	low.Cur = 0
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * tick)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	st := r.monitor(k1)
	if st.LocalErrors == 0 {
		t.Fatalf("no local error counted: %+v", st)
	}
	if got := r.dest(sk, k1).State(); got != table.StateUp || st.State != "up" {
		t.Errorf("after %d checks that could not run: server %v, monitor %s (%s), want up", st.LocalErrors, got, st.State, st.Reason)
	}
	// Checks that run again keep it up.
	n := st.Checks
	testutil.WaitFor(t, 2*time.Second, "checks after the limit is back", func() bool { return r.monitor(k1).Checks > n+1 })
	if got := r.dest(sk, k1).State(); got != table.StateUp {
		t.Errorf("after the limit came back: %v", got)
	}
}
