// Package proxy is govs's default data plane: a userspace TCP and UDP proxy
// that needs no privileges and no kernel support, so a router runs on any
// OS, in a container, or on loopback in tests.
//
// Every active virtual service gets a listener on VIP:port for its protocol
// (a firewall-mark service gets one on every port of its bundle, for TCP and
// UDP alike when its protocol is IP). Each new TCP connection or UDP flow is
// scheduled by the virtual server table at accept time, so persistence,
// quiesced and draining real servers, real-server port 0 and thresholds
// behave as the table says; the proxy only dials the Conn's Target and
// reports the connection's life and traffic back.
//
// # Listeners and reloads
//
// A listener is identified by (protocol, address, port). Prepare binds only
// the listeners a configuration adds, with IP_FREEBIND on Linux so that a
// VIP that is not plumbed yet (a backup router) can still be bound; if any
// bind fails, the new ones are closed and nothing changes. Commit starts the
// new listeners, re-points kept ones at their (possibly new) service and
// closes the ones no longer wanted. Connections are never cut by a reload:
// removed services and real servers drain. A UDP socket whose service was
// removed stays open, taking no new flows, until its last flow expires,
// because the flows' replies leave through it.
//
// SO_REUSEADDR is set on TCP listeners only: on a UDP socket Linux lets a
// second process bind the same address with it, which would hide a port
// conflict that Prepare is meant to report.
//
// # Copying and accounting
//
// On Linux, TCP bytes move with splice(2) (net.TCPConn.ReadFrom over an
// io.LimitedReader); elsewhere, or with Options.NoSplice, through pooled
// buffers. Copies are cut in chunks of Options.ChunkSize so that the table's
// byte counters, and so its rates, follow a bulk transfer; bytes of an
// unfinished chunk are accounted at least every Options.StatsInterval while
// their direction is busy, and within 30 seconds after a silence.
// A userspace proxy sees bytes, not packets: packet counters are estimated as
// one packet per 1448 bytes (an Ethernet MSS with TCP timestamps) or part
// of it, and pure ACKs are not counted. UDP datagrams are counted exactly.
//
// # Timeouts
//
// A TCP connection is idle when no byte moved in either direction for the
// table's timeout for its state (tcp_timeout once established,
// tcpfin_timeout once either side has closed); a UDP flow after udp_timeout.
// Idleness is checked from read deadlines, not a timer per connection, and
// time comes from a coarse clock ticking every 50 ms. Bytes inside an
// unfinished splice are invisible to the other direction, so the direction
// that finds the connection idle asks the other before ending it. An idle
// connection ends about its timeout after its last byte, up to twice that
// when its last bytes trickled in after a silence.
//
// # PROXY protocol
//
// A real server configured with ProxyProtocol 1 or 2 first receives a PROXY
// protocol header (text or binary) naming the client and the VIP it reached,
// written by github.com/pires/go-proxyproto.
//
// # FTP
//
// The control connections of a service with FTP set (lvs.cf ftp = 1: port
// 21 of a mark service, or the port of an address service) go through the
// ftp package's filters, which rewrite the data endpoints in PASV/EPSV
// replies and PORT/EPRT commands; the real server needs no knowledge of the
// VIP. A passive port the service already listens on (the bundle's passive
// range, with persistence) is kept and only the address becomes the VIP;
// any other passive endpoint gets a one-shot listener on the VIP, and an
// active one a one-shot listener on the router's address facing the real
// server, from which the router connects to the client from the VIP. See
// ftp.go.
//
// # Limits
//
// The real server sees the router's address as the source unless it speaks
// the PROXY protocol; direct routing and tunnelling are impossible (the proxy
// terminates TCP) and such real servers are proxied with a warning; a
// port-0 (any port) service cannot
// be listened on and is skipped with a warning. Every listened port costs a
// socket and a goroutine, and a UDP one a 64 KiB receive buffer. TCP_NODELAY is on for both sides (Go's default for
// every TCP socket); TCP keepalives are off, as IPVS sends none and the idle
// timeouts end dead connections.
package proxy
