// Package iface changes the router's interfaces: addresses on, links up,
// tunnel devices made, as ip(8) would, without running it. VRRP adds and
// removes its virtual addresses with it, and govs realserver setup makes
// the tunnel device and the VIP a real server needs.
//
// It speaks rtnetlink through github.com/jsimonetti/rtnetlink, which is
// built on github.com/mdlayher/netlink: the one netlink stack of govs, the
// same the kernel plane's IPVS (generic netlink) and nftables code run
// on, so that every netlink message govs sends goes through one
// well-tested encoder and one socket library.
package iface
