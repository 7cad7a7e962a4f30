// Package scheduler implements every scheduling algorithm of the Linux
// kernel's IPVS (net/netfilter/ipvs/ip_vs_*.c): rr, wrr, lc, wlc, sed, nq,
// lblc, lblcr, dh, sh, mh, fo, ovf and twos.
//
// Each algorithm reproduces the kernel's code rather than its description:
// the same starting candidate, the same tie-breaks, the same integer
// cross-multiplication, the same hash functions and table layouts, and the
// same reaction to destination changes. An LVS router that moves from the
// kernel plane to the userspace plane therefore keeps sending clients where
// the kernel would have, and the kernel's documentation of each scheduler
// stays true. Comments name the kernel function each behaviour comes from;
// deviations are listed on the type that has them.
//
// # Destination list
//
// The kernel walks svc->destinations; here that list is the slice handed to
// Update, in its order. The kernel links each new destination at the head
// of its list, so its own order is newest first, and package table hands
// its schedulers exactly that list, one change at a time as the kernel's
// add_dest and del_dest calls come (see table's Service.order): every
// tie-break and round-robin sequence here then follows the kernel's. Being
// in the list is what the kernel
// calls IP_VS_DEST_F_AVAILABLE: a destination dropped from the list is no
// longer available, even to the locality caches of lblc and lblcr that may
// still point at it.
//
// # Concurrency
//
// Schedule runs from many goroutines at once and concurrently with Update.
// State derived from the destination list (hash tables, gcd and maximum
// weight, the list itself) lives in immutable snapshots built by Update and
// published through an atomic pointer, so the hot path takes no lock. The
// round-robin cursors of rr and wrr, which the kernel guards with the
// per-service sched_lock, are single atomic words advanced by
// compare-and-swap, so that concurrent picks still follow the kernel's
// sequence exactly. The lblc and lblcr caches are read without locks and
// written under a per-scheduler mutex, as the kernel does under RCU and
// sched_lock.
//
// # Load indexes
//
// The kernel's lc, wlc, sed, nq, fo, ovf and twos scan the whole list on
// every decision. Here a long list is indexed instead: a tournament tree
// for the scans that keep the first least-loaded (or heaviest) server, a
// sum tree of weights for twos' draws. Each destination tells its index of
// every change to its connection counts or overload flag (table's
// LoadWatcher), and the index replays only that destination's path, so a
// decision costs a read of the root (or two log2(n) descents) and stays the
// decision the scan would make: the tests drive both through random load
// changes and compare them at every step.
package scheduler
