package router

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/govs/govs/dataplane"
	"github.com/govs/govs/internal/planetest"
	"github.com/govs/govs/scheduler"
	"github.com/govs/govs/table"
)

// bigConfig is an lvs.cf of n services of two real servers each; serial
// and the first weight change between reloads so that every service is
// updated.
func bigConfig(n, serial int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "serial_no = %d\nprimary = 192.0.2.1\nservice = lvs\n", serial)
	for i := range n {
		fmt.Fprintf(&b, "virtual v%d {\n active = 1\n address = 10.%d.%d.%d eth0\n port = 80\n scheduler = wlc\n"+
			" server a {\n  address = 198.51.100.1\n  active = 1\n  weight = %d\n }\n"+
			" server b {\n  address = 198.51.100.2\n  active = 1\n }\n}\n",
			i, i>>16&255, i>>8&255, i&255, 1+serial%2)
	}
	return b.String()
}

// rssBytes is the process's resident set (Linux; 0 elsewhere).
func rssBytes() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	var size, res uint64
	if _, err := fmt.Sscan(string(b), &size, &res); err != nil {
		return 0
	}
	return res * uint64(os.Getpagesize())
}

// heapBytes is the live heap objects' size, read without stopping the
// world, so it can be sampled during a reload.
func heapBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// BenchmarkReloadMemory reloads a router of 100,000 services (every one
// of them updated) and reports the peak during the reload over the steady
// state of the running configuration, for the heap's objects (live and
// not yet collected) and for the resident set. The steady state is
// measured after a GC with the configuration installed; the peak is
// sampled every 200 µs during the reload. -short: 10,000 services.
// GOVS_RELOAD_GC sets Options.ReloadGCPercent (default 25, as govs run;
// 0 leaves Go's default).
func BenchmarkReloadMemory(b *testing.B) {
	n := 100_000
	if testing.Short() {
		n = 10_000
	}
	dir := b.TempDir()
	path := filepath.Join(dir, "lvs.cf")
	if err := os.WriteFile(path, []byte(bigConfig(n, 1)), 0o600); err != nil {
		b.Fatal(err)
	}
	gc := 25 // as govs run sets it
	if v := os.Getenv("GOVS_RELOAD_GC"); v != "" {
		fmt.Sscan(v, &gc)
	}
	r, err := New(context.Background(), Options{ConfigPath: path, NewScheduler: scheduler.New,
		Logger: slog.New(slog.DiscardHandler), ReloadGCPercent: gc,
		NewPlane: func(string, *table.Table, *slog.Logger) (dataplane.Plane, error) { return planetest.Null{}, nil }})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close(time.Second)
	var worst, worstRSS float64
	serial := 1
	for b.Loop() {
		b.StopTimer()
		serial++
		if err := os.WriteFile(path, []byte(bigConfig(n, serial)), 0o600); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.GC()
		steady, steadyRSS := heapBytes(), rssBytes()
		var peak, peakRSS atomic.Uint64
		peak.Store(steady)
		peakRSS.Store(steadyRSS)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(200 * time.Microsecond)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					if h := heapBytes(); h > peak.Load() {
						peak.Store(h)
					}
					if h := rssBytes(); h > peakRSS.Load() {
						peakRSS.Store(h)
					}
				}
			}
		}()
		b.StartTimer()
		if err := r.Reload(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		close(stop)
		wg.Wait()
		worst = max(worst, float64(peak.Load())/float64(steady))
		if steadyRSS > 0 {
			worstRSS = max(worstRSS, float64(peakRSS.Load())/float64(steadyRSS))
		}
		b.ReportMetric(float64(steady)/(1<<20), "steady-MiB")
		b.StartTimer()
	}
	b.ReportMetric(worst, "heap-peak/steady")
	b.ReportMetric(worstRSS, "rss-peak/steady")
}
