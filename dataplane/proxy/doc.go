// Package proxy is govs's default data plane: a userspace TCP and UDP proxy
// that needs no privileges and no kernel support, so a router runs on any
// OS, in a container, or on loopback in tests.
//
// Every active virtual service gets a listener on VIP:port for its protocol
// (a firewall-mark service gets one on every port of its bundle, for TCP and
// UDP alike when its protocol is IP, except the passive range of an FTP
// bundle: see FTP below). Each new TCP connection or UDP flow is
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
// # TCP on Linux: event loops
//
// On Linux, TCP is served by event loops, one per GOMAXPROCS, each an epoll
// instance with its listeners and connections, run by one goroutine (see
// loop_linux.go). This is what makes a connection cost what it costs haproxy
// rather than two goroutines, a handful of runtime calls per socket and a
// wake-up per read:
//
//   - Listeners are raw sockets outside Go's poller (a listener in the
//     poller would wake the runtime for connections it does not accept), and
//     every loop watches every listener (EPOLLEXCLUSIVE when there are
//     several loops). accept4 returns the client's address; nothing else is
//     asked of the kernel about a socket.
//   - Every socket is non-blocking, so the loop's system calls return at
//     once and are made with syscall.RawSyscall, without the scheduler:
//     entering and leaving a system call the usual way costs more than most
//     of them, and keeps the runtime's monitor thread waking every 20 µs.
//   - When nothing is ready the loop waits in Go's poller on its epoll
//     descriptor, as any goroutine waits on a socket: it holds no thread and
//     no processor while idle, and timers and commands wake it.
//   - Bytes are copied through 64 KiB buffers lent per transfer and given
//     back as soon as the peer took them, so an idle connection holds no
//     buffer: about 300 bytes of user memory besides its two sockets. A read
//     that fills a buffer marks the direction bulk; it then moves through a
//     pipe with splice(2), without copies, borrowing the pipe until the
//     direction is drained. Options.NoSplice keeps to buffers.
//   - Edge-triggered readiness is tracked per socket; a short read means the
//     socket is drained (unless the peer's FIN was seen, which must still be
//     read), which saves the read that would only say EAGAIN. A splice gets
//     no such shortcut: it also stops when the pipe runs out of slots.
//   - A direction moves at most 16 transfers per wake-up before the loop
//     turns to other connections, so one bulk transfer cannot starve them.
//   - When a FIN reaches a connection whose other direction is closed
//     already, both sockets are closed without a shutdown first: close sends
//     the same FIN.
//   - Timers are a heap of connections by due time. Traffic does not move a
//     timer: one that fires early moves to the real expiry, at most 30 s
//     ahead, so that a timeout shortened by a reload applies.
//
// FTP control connections are handed to the goroutine path below, whose FTP
// helper rewrites the control channel.
//
// The loop is written here rather than taken from gnet, evio or nbio: those
// are reactor frameworks for servers, which own the read buffers and hand
// bytes to protocol callbacks. A proxy needs two sockets moved as one, with
// half-closes, splice between them, backpressure from one to the other and
// the table's timers, which is most of what a loop is.
//
// # UDP on Linux: event loops
//
// UDP flows are served by the same loops (see loop_udp_linux.go). A UDP
// listener keeps one goroutine that reads the clients' datagrams and
// writes each to its flow's socket; a flow's socket to its real server is
// a raw non-blocking connected socket registered with one loop, flows
// being spread over the loops in turn, so a flow costs its socket and
// about 300 bytes, not a goroutine:
//
//   - The loop reads a flow's replies when its socket is readable, at
//     most 16 per wake-up (level-triggered, so the rest wait for the next
//     one), and sends each to the client from the listener's socket with a
//     non-blocking sendto; a reply the socket has no room for is dropped,
//     as a network would drop it. An ICMP port unreachable from the real
//     server (ECONNREFUSED on a read) does not end the flow, as in IPVS.
//   - Idle flows expire from a per-loop heap of timers, as connections do:
//     traffic does not move a timer, one that fires early moves to the real
//     expiry, at most 30 s ahead.
//   - Only the loop reads, registers and closes a flow's socket, so its
//     descriptor number cannot be reused under it. The listener's goroutine
//     writes to a flow's socket only holding the listener's lock and only
//     while the flow is published; a flow is unpublished under that lock
//     before its socket is closed. An end decided elsewhere
//     (expire_nodest_conn) unpublishes the flow and has its loop close it,
//     and Close has the loops cut theirs. A client's datagram thus never
//     reaches a closed descriptor reopened as someone else's socket.
//
// # TCP and UDP elsewhere: goroutines
//
// On other systems, or with Options.Goroutines, each TCP connection has a
// goroutine per direction, and each UDP flow one reading its replies. On
// Linux the TCP ones move bytes with splice(2)
// (net.TCPConn.ReadFrom over an io.LimitedReader); elsewhere, or with
// Options.NoSplice, through pooled buffers. Copies are cut in chunks of
// Options.ChunkSize so that the table's byte counters, and so its rates,
// follow a bulk transfer; bytes of an unfinished chunk are accounted at least
// every Options.StatsInterval while their direction is busy, and within 30
// seconds after a silence. Idleness is checked from read deadlines, not a
// timer per connection, and time comes from a coarse clock ticking every
// 50 ms. Bytes inside an unfinished splice are invisible to the other
// direction, so the direction that finds the connection idle asks the other
// before ending it.
//
// # Accounting and timeouts
//
// The event loops account every transfer as it happens. A userspace proxy
// sees bytes, not packets: packet counters are estimated as one packet per
// 1448 bytes (an Ethernet MSS with TCP timestamps) or part of it, and pure
// ACKs are not counted. UDP datagrams are counted exactly.
//
// A TCP connection is idle when no byte moved in either direction for the
// table's timeout for its state (tcp_timeout once established,
// tcpfin_timeout once either side has closed); a UDP flow after udp_timeout.
// The event loops end either at its timeout; on the goroutine path an idle connection ends about its timeout after its
// last byte, up to twice that when its last bytes trickled in after a
// silence.
//
// # Socket budget
//
// Each TCP connection holds two sockets and each UDP flow one, where the
// kernel holds a connection entry. The plane bounds them (Options.Sockets,
// by default the descriptor limit less a reserve of an eighth, at least
// 256, for listeners, the control socket, health checks and the web tool),
// and neither protocol may take more than three quarters of it, UDP at
// most 65,536 flows by default. A connection beyond the budget is reset at
// once, a datagram that would open a flow beyond it is dropped; both are
// counted (Plane.Sockets, govs status, govs_dataplane_refused_total), and
// what is open keeps working. A flood thus costs its own flows, never the
// router's other descriptors. lvs.cf's max_conns bounds, globally, the
// connections and flows whatever their sockets, and a service's max_conns
// its own (package table refuses those, counted per service). The FTP helper's data listeners and data
// connections take two TCP sockets each from the same budget; one refused
// is counted alike, and answered on the control connection (see FTP).
//
// A UDP service socket asks for a 4 MiB receive buffer (SO_RCVBUFFORCE
// when the router may pass net.core.rmem_max, what rmem_max allows
// otherwise): one goroutine reads all of a service's clients, and the
// default buffer fills within a millisecond of it being descheduled.
// Datagrams the kernel still drops at a full buffer are counted from the
// socket's SO_MEMINFO (Sockets.DroppedUDP, govs status,
// govs_dataplane_udp_receive_dropped_total), so that every datagram of a
// flood is either served, refused by the budget, or counted dropped.
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
// VIP.
//
// The passive range of an FTP mark service is every port its fwmark_ports
// gives as part of a range (a-b), except 21: with 21,10000-20000, the ports
// 10000 to 20000. It is not listened on up front, which would take 10,001
// descriptors per service before any client; port 21 and the ports named
// alone are. When a passive reply announces a port of the range, the
// helper listens on that port of the VIP for that session only, takes the
// first connection from the control connection's client address to the
// endpoint the reply named (where persistence would have sent it), and
// closes the listener after it, after a minute without it, or with the
// session. If the port is taken on the VIP (another session waits on it,
// or any other socket holds it), the reply announces a one-shot listener
// on a port the kernel picks instead, as for any passive endpoint outside
// a bundle. A passive port the service listens on up front is kept, with
// persistence carrying the data connection, and only the address becomes
// the VIP. An active endpoint gets a one-shot listener on the router's
// address facing the real server, from which the router connects to the
// client from the VIP.
//
// When the socket budget has no room for a data connection, a passive
// reply is replaced by "425 Can't open data connection." and an active
// command is made to name port 0 of the router, which the real server
// cannot connect to and answers with its own error; the session goes on.
// See ftp.go and ftpdata.go.
//
// # Limits
//
// The real server sees the router's address as the source unless it speaks
// the PROXY protocol; direct routing and tunnelling are impossible (the proxy
// terminates TCP) and such real servers are proxied with a warning; a
// port-0 (any port) service cannot
// be listened on and is skipped with a warning. Every listened port costs a
// socket (on the goroutine path also a goroutine), and a UDP one a goroutine
// and a 64 KiB receive buffer. A UDP flow costs a socket, and on the
// goroutine path a goroutine too. A port of an FTP passive range on which a
// session's data listener waits cannot be bound by anything else
// meanwhile: a reload that has the port listened on up front (the
// service's ftp or fwmark_ports changed) fails to bind it, and the running
// configuration stays, until that listener closes, within a minute.
// TCP_NODELAY is on for both sides, as haproxy and Go set it; TCP
// keepalives are off, as IPVS sends none and the idle timeouts end dead
// connections.
package proxy
