package health

import (
	"slices"
	"time"
)

// LatencyBuckets are the upper bounds, in seconds, of the check latency
// histogram: from a loopback check (half a millisecond) to one that
// takes its whole timeout.
var LatencyBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// Latencies is a histogram of check durations, as Prometheus histograms
// count them: Counts[i] checks took at most LatencyBuckets[i] (and more
// than the bucket before); Count and Sum are all of them.
type Latencies struct {
	Counts []uint64
	Count  uint64
	Sum    time.Duration
}

func (l *Latencies) observe(d time.Duration) {
	if l.Counts == nil {
		l.Counts = make([]uint64, len(LatencyBuckets))
	}
	if i, _ := slices.BinarySearch(LatencyBuckets, d.Seconds()); i < len(l.Counts) {
		l.Counts[i]++
	}
	l.Count++
	l.Sum += d
}

// Cumulative returns the buckets as Prometheus wants them: for each upper
// bound, the checks that took at most that long.
func (l Latencies) Cumulative() map[float64]uint64 {
	out := make(map[float64]uint64, len(LatencyBuckets))
	var n uint64
	for i, b := range LatencyBuckets {
		if i < len(l.Counts) {
			n += l.Counts[i]
		}
		out[b] = n
	}
	return out
}

func (l Latencies) clone() Latencies {
	l.Counts = slices.Clone(l.Counts)
	return l
}
