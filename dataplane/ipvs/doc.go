// Package ipvs is the kernel data plane (lvs.cf `dataplane = ipvs`): govs
// as the control plane of the Linux kernel's IPVS, as pulse, lvsd and nanny
// were for Piranha, without ever running ipvsadm.
//
// The plane follows the virtual server table. On every Commit and every
// table change it derives what the kernel should hold — the services the
// configuration names, their Up real servers at their weight, Quiesced and
// Draining ones at weight 0, the sorry server while the table uses it — and
// changes only what differs. It never flushes, so a reload drops no
// connection. Services it did not create are left alone: it records the
// keys it installed in a small state file under /run/govs, so a restarted
// router still tells its own from an operator's. A timer compares the kernel
// with the table and repairs, with a log line each, what someone changed by
// hand. Every 2 s the kernel's per-real-server counters are copied into the
// table, so listings and rates read the live kernel.
//
// Firewall-mark services with fwmark_ports get their marks from nftables
// rules that govs installs in an inet table of its own (a prerouting chain
// at mangle priority, rules built as nft builds the equivalent text); the
// table is replaced atomically when services change and deleted on Close.
// Other tables are never touched.
//
// Library choice: github.com/cloudflare/ipvs over github.com/moby/ipvs.
// Both are pure Go over generic netlink and both lack the sync-daemon
// commands, but cloudflare/ipvs is maintained (moby/ipvs has had no release
// since 2023), speaks netip, exposes tunnel types (ipip, GUE, GRE) that
// lvs.cf's tunnel real servers need and 64-bit counters, and is an
// interface rather than a handle with a logging dependency. The daemon
// commands (IPVS_CMD_NEW/DEL/GET_DAEMON) are added here over
// github.com/mdlayher/genetlink, which cloudflare/ipvs itself uses, and so
// are batched changes: the library waits for each change's acknowledgement,
// which made loading 10,000 services slower than ipvsadm -R, so changes go
// many to a netlink write with one acknowledgement (batch_linux.go).
// Kernel access sits behind the small Kernel and Marker interfaces so that
// the reconciliation logic is tested against fakes, as Seesaw tests its
// engine; the real kernel is tested in a qemu guest (scripts/ipvs-vm).
//
// RealServerSetup and Apply prepare a real server for direct routing or
// tunnelling (VIP on lo or tunl0, ARP and reverse-path sysctls).
package ipvs
