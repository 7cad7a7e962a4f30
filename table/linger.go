package table

import (
	"net/netip"
	"sync"
	"time"

	"github.com/govs/govs/model"
)

// lingerRec is a closed TCP connection's entry while it lingers in
// TIME_WAIT or CLOSE: only what counting, listing and expiry need, packed,
// so that the million entries of a busy router's two minutes cost tens of
// megabytes rather than the hundreds full connection entries would.
type lingerRec struct {
	dest                    *Dest
	at                      int64 // expiry, Unix ns
	client, virtual, target packedAddrPort
	proto                   model.Proto
	state                   uint8
}

// packedAddrPort is a netip.AddrPort without the zone pointer netip.Addr
// carries: a record holds no pointer but its dest, and the collector
// scans less.
type packedAddrPort struct {
	ip   [16]byte
	port uint16
	is4  bool
}

func pack(ap netip.AddrPort) packedAddrPort {
	a := ap.Addr()
	return packedAddrPort{ip: a.As16(), port: ap.Port(), is4: a.Is4()}
}

func (p packedAddrPort) unpack() netip.AddrPort {
	a := netip.AddrFrom16(p.ip)
	if p.is4 {
		a = a.Unmap()
	}
	return netip.AddrPortFrom(a, p.port)
}

// lingerBlock is the number of records per block of a FIFO: blocks of a
// fixed size grow the queue without copying and free its front as it
// drains.
const lingerBlock = 4096

// lingerQueue holds the lingering records until they expire: one FIFO per
// timeout, so that records leave in the order they came and expiry never
// walks the whole table, however many there are.
type lingerQueue struct {
	mu     sync.Mutex
	n      int
	queues map[time.Duration]*lingerFIFO
}

type lingerFIFO struct {
	blocks [][]lingerRec
	head   int // the next record of blocks[0]
}

func (q *lingerQueue) push(timeout time.Duration, r lingerRec) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.queues == nil {
		q.queues = map[time.Duration]*lingerFIFO{}
	}
	f := q.queues[timeout]
	if f == nil {
		f = &lingerFIFO{}
		q.queues[timeout] = f
	}
	if len(f.blocks) == 0 || len(f.blocks[len(f.blocks)-1]) == lingerBlock {
		f.blocks = append(f.blocks, make([]lingerRec, 0, lingerBlock))
	}
	last := &f.blocks[len(f.blocks)-1]
	*last = append(*last, r)
	q.n++
}

// due takes up to max of the records whose time has come, into buf.
func (q *lingerQueue) due(now time.Time, buf []lingerRec, max int) []lingerRec {
	t := now.UnixNano()
	q.mu.Lock()
	defer q.mu.Unlock()
	out := buf[:0]
	for _, f := range q.queues {
		for len(f.blocks) > 0 && len(out) < max {
			b := f.blocks[0]
			for f.head < len(b) && b[f.head].at <= t && len(out) < max {
				out = append(out, b[f.head])
				f.head++
			}
			if f.head < lingerBlock {
				break // the rest is not due, not written yet, or over max
			}
			f.blocks[0] = nil
			f.blocks, f.head = f.blocks[1:], 0
		}
	}
	q.n -= len(out)
	return out
}

// rangeAll calls fn for every lingering record until fn returns false.
func (q *lingerQueue) rangeAll(fn func(*lingerRec) bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, f := range q.queues {
		for i, b := range f.blocks {
			from := 0
			if i == 0 {
				from = f.head
			}
			for j := from; j < len(b); j++ {
				if !fn(&b[j]) {
					return
				}
			}
		}
	}
}

func (q *lingerQueue) count() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n
}

// expire ends a lingering record: its real server counts one inactive
// connection less, and a removed server whose last entry this was leaves.
func (r *lingerRec) expire() {
	d := r.dest
	d.inact.Add(-1)
	d.updateOverload(false)
	d.loadChanged()
	if d.removed.Load() && d.active.Load()+d.inact.Load() == 0 && d.svc != nil {
		d.svc.dropGone(d)
	}
}
