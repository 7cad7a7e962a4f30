package scheduler

import "github.com/govs/govs/table"

// scanTwos is ip_vs_twos_schedule's list walk for the raw random words x1
// and x2.
func scanTwos(dests []*table.Dest, x1, x2 uint64) *table.Dest {
	var choice1, choice2 *table.Dest
	total := 0
	for _, d := range dests {
		if !d.Overloaded() {
			if w := d.Weight(); w > 0 {
				total += w
				choice1 = d
			}
		}
	}
	if choice1 == nil {
		return nil
	}
	total++
	r1 := int64(below(x1, uint64(total)))
	r2 := int64(below(x2, uint64(total)))
	var w1, w2 int64 = -1, -1
	var oh1, oh2 int64
	for _, d := range dests {
		if d.Overloaded() {
			continue
		}
		w := int64(d.Weight())
		if w <= 0 {
			continue
		}
		r1 -= w
		r2 -= w
		if r1 <= 0 && w1 == -1 {
			choice1, w1, oh1 = d, w, int64(d.Overhead())
		}
		if r2 <= 0 && w2 == -1 {
			choice2, w2, oh2 = d, w, int64(d.Overhead())
		}
		if w1 != -1 && w2 != -1 {
			break
		}
	}
	if choice2 != nil && w2*oh1 > w1*oh2 {
		choice1 = choice2
	}
	return choice1
}
