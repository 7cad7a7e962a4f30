package vrrp

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/govs/govs/internal/testutil"
)

// waitState polls an instance, boundedly, for a state.
func waitState(t *testing.T, in *Instance, want State, within time.Duration) {
	t.Helper()
	testutil.Eventually(t, within, func() error {
		if st := in.Status().State; st != want {
			return fmt.Errorf("state %v, want %v", st, want)
		}
		return nil
	})
}

func TestInstancesOverFakeNetwork(t *testing.T) {
	hub := NewHub()
	var mu sync.Mutex
	var events []string
	mk := func(name string, cfg Config) (*Instance, context.CancelFunc, chan struct{}) {
		cfg.VRID, cfg.Interval = 9, 20*time.Millisecond
		in := NewInstance(cfg, hub.Join(cfg.Local), Options{OnChange: func(_, to State, _ string) {
			mu.Lock()
			events = append(events, name+" "+to.String())
			mu.Unlock()
		}})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = in.Run(ctx); close(done) }()
		return in, cancel, done
	}
	a, stopA, doneA := mk("a", Config{Priority: 150, Local: addrA})
	b, stopB, doneB := mk("b", Config{Priority: 100, Local: addrB})
	defer func() { stopB(); <-doneB }()
	waitState(t, a, Master, 2*time.Second)
	waitState(t, b, Backup, time.Second)
	time.Sleep(100 * time.Millisecond)
	if st := b.Status(); st.Master != addrA || st.LastFrom != addrA || st.LastPriority != 150 ||
		time.Since(st.LastAdvert) > time.Second {
		t.Fatalf("backup's status %+v", st)
	}
	if b.Status().State != Backup {
		t.Fatal("two masters")
	}
	// A stopping master hands over after skew, well inside the down
	// interval.
	start := time.Now()
	stopA()
	<-doneA
	waitState(t, b, Master, time.Second)
	if d := time.Since(start); d > 400*time.Millisecond {
		t.Errorf("takeover after a goodbye took %v", d)
	}
	// Fault: the link goes down on the master.
	b.SetLinkDown(true)
	waitState(t, b, Fault, time.Second)
	b.SetLinkDown(false)
	waitState(t, b, Master, time.Second) // alone: backup, then master after the down interval
	mu.Lock()
	defer mu.Unlock()
	if len(events) < 5 || events[0] != "a backup" && events[0] != "b backup" {
		t.Errorf("events %v", events)
	}
}
