package testutil

import (
	"testing"
	"time"
)

// pollInterval returns how long to sleep after the n-th failed look at a
// condition that must hold within d: 1 ms at first, doubling, up to a
// hundredth of d but never more than 100 ms. A condition that is quick to
// check is seen soon after it holds; one that runs a command (a list
// from the router's control socket) is not run more than ten times a
// second.
func pollInterval(n int, d time.Duration) time.Duration {
	limit := min(max(d/100, time.Millisecond), 100*time.Millisecond)
	if n >= 7 {
		return limit
	}
	return min(time.Millisecond<<n, limit)
}

// WaitFor polls cond until it holds, and fails the test (t.Fatalf, so
// from the test's goroutine only) if it does not within d. what names the
// awaited condition in the failure message: "timed out after 5s waiting
// for rs1 to be down".
func WaitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for n := 0; !cond(); n++ {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(pollInterval(n, d))
	}
}

// Eventually polls check until it returns nil, and fails the test if it
// has not within d, with the last error check returned: that error says
// what was seen instead of what was awaited ("state backup, want
// master").
func Eventually(t testing.TB, d time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for n := 0; ; n++ {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %v", d, err)
		}
		time.Sleep(pollInterval(n, d))
	}
}
