package health

import (
	"testing"
	"time"
)

func TestLatencies(t *testing.T) {
	var l Latencies
	for _, d := range []time.Duration{300 * time.Microsecond, 500 * time.Microsecond, 3 * time.Millisecond, 20 * time.Second} {
		l.observe(d)
	}
	c := l.Cumulative()
	// 0.5 ms is in the 0.5 ms bucket (upper bounds are inclusive); 20 s
	// is past the last bound, counted only in Count (Prometheus's +Inf).
	if c[0.0005] != 2 || c[0.001] != 2 || c[0.005] != 3 || c[10] != 3 || l.Count != 4 ||
		l.Sum != 20*time.Second+3800*time.Microsecond {
		t.Fatalf("buckets %v, count %d, sum %v", c, l.Count, l.Sum)
	}
	cp := l.clone()
	l.observe(time.Millisecond)
	if cp.Count != 4 || cp.Cumulative()[0.001] != 2 {
		t.Fatal("a status copy changed with the monitor")
	}
}
