package persistence

import (
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/govs/govs/model"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestMakeKey(t *testing.T) {
	web := model.TCPKey(netip.MustParseAddrPort("192.0.2.1:80"))
	ftp := model.TCPKey(netip.MustParseAddrPort("192.0.2.1:21"))
	v6 := model.TCPKey(netip.MustParseAddrPort("[2001:db8::1]:443"))
	for _, tc := range []struct {
		svc      model.ServiceKey
		client   string
		bits     int
		wantAddr string
		wantPort uint16
	}{
		{web, "203.0.113.77", 32, "203.0.113.77", 80},
		{web, "203.0.113.77", 24, "203.0.113.0", 80},
		{web, "::ffff:203.0.113.77", 24, "203.0.113.0", 80}, // v4-mapped clients mask as IPv4
		{ftp, "203.0.113.77", 32, "203.0.113.77", 0},        // port 21: port-independent template
		{v6, "2001:db8:1:2:3:4:5:6", 64, "2001:db8:1:2::", 443},
		{v6, "2001:db8:1:2:3:4:5:6", 128, "2001:db8:1:2:3:4:5:6", 443},
	} {
		k := MakeKey(tc.svc, netip.MustParseAddr(tc.client), tc.bits)
		if k.Client.String() != tc.wantAddr || k.Service.Port != tc.wantPort {
			t.Errorf("MakeKey(%v, %s/%d) = %v port %d, want %s port %d", tc.svc, tc.client, tc.bits,
				k.Client, k.Service.Port, tc.wantAddr, tc.wantPort)
		}
	}
}

// Concurrent first connections of one client agree on one destination and
// pick is called once.
func TestAcquireAgrees(t *testing.T) {
	s := New[int]()
	k := MakeKey(model.MarkKey(model.IPv4, 1), netip.MustParseAddr("203.0.113.1"), 32)
	var mu sync.Mutex
	picks := 0
	var wg sync.WaitGroup
	got := make([]int, 16)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tp, _, _ := s.Acquire(k, t0, time.Minute, func(int) bool { return true }, func() (int, bool) {
				mu.Lock()
				defer mu.Unlock()
				picks++
				return 100 + picks, true
			})
			got[i] = tp.Dest
		}()
	}
	wg.Wait()
	if picks != 1 {
		t.Fatalf("pick called %d times", picks)
	}
	for _, g := range got {
		if g != 101 {
			t.Fatalf("destinations %v: want all 101", got)
		}
	}
	tp, ok := s.Get(k, t0)
	if !ok || tp.Controls() != 16 {
		t.Fatalf("controls = %d, want 16", tp.Controls())
	}
}

// An invalid destination is replaced and reported as dropped.
func TestAcquireReplacesInvalid(t *testing.T) {
	s := New[string]()
	k := MakeKey(model.MarkKey(model.IPv4, 1), netip.MustParseAddr("203.0.113.1"), 32)
	s.Acquire(k, t0, time.Minute, nil, func() (string, bool) { return "a", true })
	tp, created, dropped := s.Acquire(k, t0, time.Minute, func(d string) bool { return d != "a" },
		func() (string, bool) { return "b", true })
	if !created || tp.Dest != "b" || dropped == nil || dropped.Dest != "a" {
		t.Fatalf("got %v created=%v dropped=%v", tp.Dest, created, dropped)
	}
	if s.Len() != 1 {
		t.Fatalf("len %d", s.Len())
	}
	tp.Release(t0)
	if n := s.Expire(t0.Add(59*time.Second), nil); n != 0 {
		t.Fatalf("expired %d before the timeout", n)
	}
	if n := s.Expire(t0.Add(61*time.Second), nil); n != 1 || s.Len() != 0 {
		t.Fatalf("expired %d after the timeout, len %d", n, s.Len())
	}
}
