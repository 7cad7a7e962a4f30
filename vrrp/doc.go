// Package vrrp makes two govs routers one: the Virtual Router Redundancy
// Protocol version 3 (RFC 5798) for IPv4 and IPv6 decides which of them is
// active (master) and owns the virtual addresses, and the other stands by
// (backup) to take them over when adverts stop. It replaces Piranha's pulse
// heartbeats with the standard protocol, so a govs pair can also share a
// link with other VRRP routers without confusion, and packet captures
// decode.
//
// The pieces are separable so each can be tested alone:
//   - Advert, Marshal and Parse: the wire format and its checksum over the
//     pseudo-header.
//   - Machine: the state machine (Initialize, Backup, Master, plus Fault
//     for monitor_links), with no I/O and no clock of its own.
//   - Instance: a Machine over a Network with real timers; Hub and FakeNet
//     are an in-memory Network for tests, ListenIP the Linux one.
//   - AddAddrs and RemoveAddrs: taking and releasing the addresses.
//   - Announcer, Term and Link: telling the LAN where the addresses live,
//     paced, for exactly one spell as master. A Term starts on becoming
//     master and ends, before anything else happens, on leaving it; once
//     End returns nothing more is sent, so a router that lost the role
//     never pulls the neighbours' caches back to itself.
//
// Defaults follow pulse rather than keepalived: no preemption, so a
// returning primary stays backup until the active router fails, because a
// fail-back is a second interruption nobody asked for.
//
// Where RFC 5798 leaves room, govs does what keepalived does, so that the
// two share a LAN: a master that hears a weaker master (two masters after a
// stall or a healed partition) advertises at once and announces its
// addresses again, where the RFC only discards the advert, because the
// LAN followed the other's announcements; a backup adopts the master's
// advertisement interval, and lvs.cf's deadtime scales with it; with
// unicast peers the configured addresses, not the TTL, authenticate an
// advert, since keepalived sends IPv6 unicast adverts with hop limit 64.
//
// Libraries, and why: golang.org/x/net/ipv4 and ipv6 give raw IP sockets
// with per-packet control messages, which VRRP needs to read the TTL (hop
// limit) that proves a sender is on-link, the destination (group or
// unicast) that enters the checksum, and the arrival interface, and to set
// the source address per packet; the standard library exposes none of
// these. Package internal/iface adds and removes addresses the way ip(8)
// does, with labels for ifconfig-style aliases and IPv6's NODAD flag,
// without running commands, on the one netlink stack of govs. github.com/mdlayher/packet and ethernet send
// the raw gratuitous ARP frame (send_arp's packet) that no socket API
// builds, github.com/mdlayher/arp encodes it, and github.com/mdlayher/ndp
// encodes and sends unsolicited neighbour advertisements with the right hop
// limit and checksum: MetalLB announces its addresses with the same three,
// so they are exercised on real networks.
package vrrp
