//go:build linux

package ipvs

import (
	"encoding/binary"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/govs/govs/model"
)

// IPVS generic netlink numbering (include/uapi/linux/ip_vs.h) for the
// batched changes.
const (
	cmdNewService = 1
	cmdSetService = 2
	cmdDelService = 3
	cmdNewDest    = 5
	cmdSetDest    = 6
	cmdDelDest    = 7
	cmdZero       = 16

	attrService = 1
	attrDest    = 2

	svcAttrAF        = 1
	svcAttrProtocol  = 2
	svcAttrAddr      = 3
	svcAttrPort      = 4
	svcAttrFWMark    = 5
	svcAttrSchedName = 6
	svcAttrFlags     = 7
	svcAttrTimeout   = 8
	svcAttrNetmask   = 9

	destAttrAddr      = 1
	destAttrPort      = 2
	destAttrFwdMethod = 3
	destAttrWeight    = 4
	destAttrUThresh   = 5
	destAttrLThresh   = 6
	destAttrAF        = 11
	destAttrTunType   = 13
	destAttrTunPort   = 14
	destAttrTunFlags  = 15

	// batchBytes stays well under the default socket send buffer, which
	// bounds one netlink write.
	batchBytes = 128 << 10
)

// batcher sends IPVS changes many to a write. cloudflare/ipvs waits for
// each change's acknowledgement before sending the next, which costs a
// round trip (and under emulation, a scheduler wake-up) per real server;
// loading 100,000 real servers that way is slower than ipvsadm -R. Here
// only the last change of a write asks for an acknowledgement: the kernel
// handles a write's messages in order, within the write itself, and
// answers a failed one with an error carrying its sequence number, so
// reading up to the last acknowledgement tells which change, if any,
// failed.
type batcher struct {
	mu     sync.Mutex
	fd     int
	family uint16
	seq    uint32
	rbuf   []byte
}

func newBatcher(family uint16) (*batcher, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_GENERIC)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("bind", err)
	}
	// A bounded wait: a kernel that never answers must not hang the router.
	tv := unix.NsecToTimeval((30 * time.Second).Nanoseconds())
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	// Error answers echo their request; make room for a write's worth.
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 4<<20)
	return &batcher{fd: fd, family: family, seq: uint32(time.Now().Unix()), rbuf: make([]byte, 1<<16)}, nil
}

func (b *batcher) close() error { return unix.Close(b.fd) }

func encodeService(s KService) func(*netlink.AttributeEncoder) error {
	return func(ae *netlink.AttributeEncoder) error {
		fam := s.Key.AddrFamily()
		ae.Uint16(svcAttrAF, uint16(afOf(fam)))
		if s.Key.IsMark() {
			ae.Uint32(svcAttrFWMark, s.Key.FWMark)
		} else {
			ae.Uint16(svcAttrProtocol, uint16(s.Key.Proto))
			ae.Bytes(svcAttrAddr, s.Key.Addr.AsSlice())
			ae.Bytes(svcAttrPort, binary.BigEndian.AppendUint16(nil, s.Key.Port))
		}
		ae.String(svcAttrSchedName, s.Scheduler)
		flags := binary.NativeEndian.AppendUint32(nil, s.Flags)
		flags = binary.NativeEndian.AppendUint32(flags, 0xffffffff)
		ae.Bytes(svcAttrFlags, flags)
		ae.Uint32(svcAttrTimeout, s.Timeout)
		prefix, _ := s.prefix()
		if fam == model.IPv6 {
			ae.Uint32(svcAttrNetmask, uint32(prefix))
		} else {
			ae.Bytes(svcAttrNetmask, binary.BigEndian.AppendUint32(nil, ^uint32(0)<<(32-prefix)))
		}
		return nil
	}
}

func encodeDest(d KDest) func(*netlink.AttributeEncoder) error {
	return func(ae *netlink.AttributeEncoder) error {
		cf := destToCF(d)
		ae.Uint16(destAttrAF, uint16(cf.Family))
		ae.Bytes(destAttrAddr, d.Addr.AsSlice())
		ae.Bytes(destAttrPort, binary.BigEndian.AppendUint16(nil, d.Port))
		ae.Uint32(destAttrFwdMethod, uint32(cf.FwdMethod))
		ae.Uint32(destAttrWeight, uint32(d.Weight))
		ae.Uint32(destAttrUThresh, d.Upper)
		ae.Uint32(destAttrLThresh, d.Lower)
		ae.Uint8(destAttrTunType, uint8(d.Tunnel))
		ae.Bytes(destAttrTunPort, []byte{0, 0})
		ae.Uint16(destAttrTunFlags, 0)
		return nil
	}
}

func encodeOp(op Op) (uint8, []byte, error) {
	var cmd uint8
	switch op.Kind {
	case OpAddService:
		cmd = cmdNewService
	case OpEditService:
		cmd = cmdSetService
	case OpDelService:
		cmd = cmdDelService
	case OpAddDest:
		cmd = cmdNewDest
	case OpEditDest:
		cmd = cmdSetDest
	case OpDelDest:
		cmd = cmdDelDest
	case OpZero:
		// The kernel reads only the service's identity for this one.
		cmd = cmdZero
	default:
		return 0, nil, fmt.Errorf("unknown operation %d", op.Kind)
	}
	ae := netlink.NewAttributeEncoder()
	ae.Nested(attrService, encodeService(op.Service))
	if cmd >= cmdNewDest && cmd <= cmdDelDest {
		ae.Nested(attrDest, encodeDest(op.Dest))
	}
	b, err := ae.Encode()
	return cmd, b, err
}

// apply sends ops in writes of up to batchBytes and returns how many
// succeeded before the first failure. Changes after a failed one in the
// same write may have been made too; the plane reads the kernel again
// after any error.
func (b *batcher) apply(ops []Op) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for start := 0; start < len(ops); {
		var buf []byte
		end := start
		for end < len(ops) && len(buf) < batchBytes {
			cmd, attrs, err := encodeOp(ops[end])
			if err != nil {
				return end, err
			}
			buf = appendMsg(buf, b.family, cmd, b.seq+uint32(end-start+1), attrs)
			end++
		}
		// Only the write's last message asks for an acknowledgement.
		setAck(buf)
		if err := unix.Sendto(b.fd, buf, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
			return start, fmt.Errorf("%s: send: %w", netlinkErrMsg, err)
		}
		failed, ferr, err := b.waitAck(b.seq+1, b.seq+uint32(end-start))
		b.seq += uint32(end - start)
		if err != nil {
			return start, err
		}
		if ferr != nil {
			i := start + failed
			return i, fmt.Errorf("%s: %s: %w", netlinkErrMsg, ops[i], ferr)
		}
		start = end
	}
	return len(ops), nil
}

const nlmsgHdrLen = 16

func appendMsg(buf []byte, family uint16, cmd uint8, seq uint32, attrs []byte) []byte {
	n := nlmsgHdrLen + 4 + len(attrs)
	buf = binary.NativeEndian.AppendUint32(buf, uint32(n))
	buf = binary.NativeEndian.AppendUint16(buf, family)
	buf = binary.NativeEndian.AppendUint16(buf, unix.NLM_F_REQUEST)
	buf = binary.NativeEndian.AppendUint32(buf, seq)
	buf = binary.NativeEndian.AppendUint32(buf, 0)
	buf = append(buf, cmd, genlVersion, 0, 0)
	buf = append(buf, attrs...)
	for len(buf)%4 != 0 {
		buf = append(buf, 0)
	}
	return buf
}

// lastMsgOffset returns where the last message of buf starts.
func lastMsgOffset(buf []byte) int {
	off := 0
	for {
		n := int(binary.NativeEndian.Uint32(buf[off:]))
		next := off + (n+3)&^3
		if next >= len(buf) {
			return off
		}
		off = next
	}
}

func setAck(buf []byte) {
	off := lastMsgOffset(buf)
	flags := binary.NativeEndian.Uint16(buf[off+6:])
	binary.NativeEndian.PutUint16(buf[off+6:], flags|unix.NLM_F_ACK)
}

// waitAck reads answers until the acknowledgement of seq last. It returns
// the index (from first) of the first change the kernel refused and why.
func (b *batcher) waitAck(first, last uint32) (int, error, error) {
	failedAt := -1
	var ferr error
	for range 1 << 20 { // bounded: far more answers than a write can cause
		n, _, err := unix.Recvfrom(b.fd, b.rbuf, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, nil, fmt.Errorf("%s: receive: %w", netlinkErrMsg, err)
		}
		for off := 0; off+nlmsgHdrLen <= n; {
			l := int(binary.NativeEndian.Uint32(b.rbuf[off:]))
			typ := binary.NativeEndian.Uint16(b.rbuf[off+4:])
			seq := binary.NativeEndian.Uint32(b.rbuf[off+8:])
			if l < nlmsgHdrLen || off+l > n {
				break
			}
			if typ == unix.NLMSG_ERROR && l >= nlmsgHdrLen+4 && seq >= first && seq <= last {
				code := int32(binary.NativeEndian.Uint32(b.rbuf[off+nlmsgHdrLen:]))
				if code != 0 && (failedAt < 0 || int(seq-first) < failedAt) {
					failedAt, ferr = int(seq-first), unix.Errno(-code)
				}
				if seq == last {
					if failedAt < 0 {
						return 0, nil, nil
					}
					return failedAt, ferr, nil
				}
			}
			off += (l + 3) &^ 3
		}
	}
	return 0, nil, fmt.Errorf("%s: no acknowledgement", netlinkErrMsg)
}
