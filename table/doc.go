// Package table is the virtual server table of an LVS router: live services
// and their real servers, scheduling of new connections (through the
// algorithms of package scheduler, injected as a NewSchedulerFunc),
// persistence templates, the connection table and its accounting.
//
// It is what the Linux kernel's IPVS core is to ipvsadm, without the packet
// handling: data planes ask it where a new connection goes and report the
// connection's life and traffic back; the kernel plane mirrors the kernel's
// table into it. It does no I/O and knows no data plane.
//
// Concurrency: scheduling runs from many goroutines at once. Per-service
// destination lists are immutable snapshots swapped atomically on change,
// connection counters are atomics, and persistence templates live in a
// sharded store, so no global lock is taken on the hot path.
package table
