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
package scheduler
