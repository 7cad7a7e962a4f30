// Package fuzzcheck holds what the fuzz targets of several packages share:
// a time bound on one input, and the checks every JSON-over-HTTP handler's
// answer must pass whatever it was sent.
package fuzzcheck

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

// Within runs f and fails t if f has not returned after d. A fuzz engine
// reports a crash but not a hang: an input that makes a parser loop would
// otherwise stall the run silently. f keeps running after the failure,
// since a goroutine cannot be stopped; the failing input is what matters.
func Within(t testing.TB, d time.Duration, f func()) {
	t.Helper()
	done := make(chan string, 1)
	go func() {
		defer func() {
			// A panic is reported with the stack where it happened, which
			// a re-panic on the test's goroutine would lose.
			if v := recover(); v != nil {
				done <- fmt.Sprintf("panic: %v\n%s", v, debug.Stack())
				return
			}
			done <- ""
		}()
		f()
	}()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case msg := <-done:
		if msg != "" {
			t.Fatal(msg)
		}
	case <-timer.C:
		buf := make([]byte, 1<<16)
		buf = buf[:runtime.Stack(buf, true)]
		t.Fatalf("still running after %s:\n%s", d, buf)
	}
}

// JSONAnswer checks what a handler wrote: no 5xx, a JSON body, and for a
// 4xx an object with a non-empty "error" string, so that a client always
// learns why it was refused. It returns the status code.
func JSONAnswer(t testing.TB, rec *httptest.ResponseRecorder) int {
	t.Helper()
	code := rec.Code
	body := rec.Body.Bytes()
	if code >= 500 {
		t.Fatalf("status %d: %s", code, body)
	}
	if !json.Valid(body) {
		t.Fatalf("status %d with a body that is not JSON: %q", code, body)
	}
	if code >= 400 {
		var e struct {
			Error string `json:"error"`
		}
		if err := json.Unmarshal(body, &e); err != nil || e.Error == "" {
			t.Fatalf("status %d without an error message: %s", code, body)
		}
	}
	return code
}
