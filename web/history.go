package web

import "sync"

// point is one sample of the whole table, for the chart.
type point struct {
	T        int64   `json:"t"` // Unix milliseconds
	CPS      float64 `json:"cps"`
	InBPS    float64 `json:"inbps"`
	OutBPS   float64 `json:"outbps"`
	Active   int     `json:"active"`
	Inactive int     `json:"inactive"`
}

// history is a ring buffer of samples: a fixed memory cost however long the
// router runs.
type history struct {
	mu   sync.Mutex
	buf  []point
	next int
	full bool
}

func newHistory(n int) *history { return &history{buf: make([]point, n)} }

func (h *history) add(p point) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.buf[h.next] = p
	h.next = (h.next + 1) % len(h.buf)
	if h.next == 0 {
		h.full = true
	}
}

// points returns the samples, oldest first.
func (h *history) points() []point {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.full {
		return append([]point{}, h.buf[:h.next]...)
	}
	return append(append([]point{}, h.buf[h.next:]...), h.buf[:h.next]...)
}
