package testutil

import (
	"errors"
	"testing"
	"time"
)

// pollInterval returns how long to sleep after the n-th failed look at a
// condition that took cost to check: 1 ms at first, doubling up to 10 ms,
// so that a condition that is quick to check is seen soon after it holds;
// but never less than ten times what the check cost, up to 100 ms, so
// that a condition that runs a command (govs list, ipvsadm) takes no more
// than a tenth of the time and does not load the machine it watches.
func pollInterval(n int, cost time.Duration) time.Duration {
	d := 10 * time.Millisecond
	if n < 4 {
		d = time.Millisecond << n
	}
	return min(max(d, 10*cost), 100*time.Millisecond)
}

// WaitFor polls cond until it holds, and fails the test (t.Fatalf, so
// from the test's goroutine only) if it does not within d. what names the
// awaited condition in the failure message: "timed out after 5s waiting
// for rs1 to be down".
func WaitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	errNot := errors.New("not yet")
	if poll(d, func() error {
		if cond() {
			return nil
		}
		return errNot
	}) != nil {
		t.Fatalf("timed out after %s waiting for %s", d, what)
	}
}

// Eventually polls check until it returns nil, and fails the test if it
// has not within d, with the last error check returned: that error says
// what was seen instead of what was awaited ("state backup, want
// master").
func Eventually(t testing.TB, d time.Duration, check func() error) {
	t.Helper()
	if err := poll(d, check); err != nil {
		t.Fatalf("not within %s: %v", d, err)
	}
}

// poll calls check until it returns nil or, once d has passed, returns
// what its last call, made after d, returned.
func poll(d time.Duration, check func() error) error {
	deadline := time.Now().Add(d)
	for n := 0; ; n++ {
		start := time.Now()
		err := check()
		if err == nil || start.After(deadline) {
			return err
		}
		time.Sleep(pollInterval(n, time.Since(start)))
	}
}
