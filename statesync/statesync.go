// Package statesync carries persistence templates from the active router
// to the backup, for the userspace proxy plane: after a failover a
// persistent client then lands on the real server it had, which matters
// when that server holds its session. The kernel plane has IPVS's own sync
// daemon for this instead.
//
// The protocol is govs's own and small: UDP datagrams, each a magic, a
// count, and fixed-size template records. The active router sends the
// templates made since its last round every Period, and all of them every
// FullEvery, so a backup that starts late or missed a datagram catches up
// without acknowledgements. Only datagrams from the configured peer are
// read. Connection entries are not carried: a proxied TCP connection ends
// with the router that terminated it, so the backup could do nothing with
// them.
package statesync

import (
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"time"

	"github.com/govs/govs/model"
	"github.com/govs/govs/persistence"
	"github.com/govs/govs/table"
)

// DefaultPort is the UDP port used when lvs.cf names none.
const DefaultPort = 8849

var magic = [4]byte{'G', 'V', 'S', '1'}

const (
	headerLen = 6  // magic, count
	recordLen = 78 // see putRecord
	maxRecs   = (1400 - headerLen) / recordLen
	maxMS     = math.MaxInt64 / uint64(time.Millisecond)
)

// Record is one template on the wire.
type Record struct {
	Service model.ServiceKey
	Client  netip.Addr
	Dest    model.DestKey
	Timeout time.Duration
	// Left is how long the template has until it expires, so that the two
	// routers' clocks need not agree.
	Left time.Duration
}

func put16(b []byte, a netip.Addr) {
	s := a.As16()
	if !a.IsValid() {
		s = [16]byte{}
	}
	copy(b, s[:])
}

// get16 reads an address put16 wrote under the family byte putRecord
// wrote beside it: an IPv4 address in its IPv4-mapped form under 4, any
// other under 6. Other pairings are not from Encode, and taking them would
// give addresses no table entry has (an IPv4-mapped client, say), which
// would not even survive being passed on again.
func get16(b []byte, fam byte) (netip.Addr, bool) {
	a := netip.AddrFrom16([16]byte(b[:16]))
	switch fam {
	case 4:
		return a.Unmap(), a.Is4In6()
	case 6:
		return a, !a.Is4In6()
	}
	return netip.Addr{}, false
}

// putRecord writes r in recordLen bytes: service proto, family, port,
// mark, address; client family and address; dest family, address, port;
// timeout and time left in milliseconds.
func putRecord(b []byte, r Record) {
	b[0] = byte(r.Service.Proto)
	b[1] = byte(r.Service.AddrFamily())
	binary.BigEndian.PutUint16(b[2:], r.Service.Port)
	binary.BigEndian.PutUint32(b[4:], r.Service.FWMark)
	put16(b[8:], r.Service.Addr)
	b[24] = byte(model.FamilyOf(r.Client))
	put16(b[25:], r.Client)
	b[41] = byte(model.FamilyOf(r.Dest.Addr))
	put16(b[42:], r.Dest.Addr)
	binary.BigEndian.PutUint16(b[58:], r.Dest.Port)
	binary.BigEndian.PutUint64(b[60:], uint64(r.Timeout.Milliseconds()))
	binary.BigEndian.PutUint64(b[68:], uint64(max(0, r.Left.Milliseconds())))
	b[76], b[77] = 0, 0
}

var errRecord = errors.New("statesync: malformed template record")

func getRecord(b []byte) (Record, error) {
	var r Record
	fam := b[1]
	r.Service.Port = binary.BigEndian.Uint16(b[2:])
	r.Service.FWMark = binary.BigEndian.Uint32(b[4:])
	ok := true
	if r.Service.FWMark != 0 {
		r.Service.Family = model.Family(fam)
		ok = r.Service.Family == model.IPv4 || r.Service.Family == model.IPv6
	} else {
		r.Service.Proto = model.Proto(b[0])
		r.Service.Addr, ok = get16(b[8:], fam)
	}
	var okc, okd bool
	r.Client, okc = get16(b[25:], b[24])
	r.Dest.Addr, okd = get16(b[42:], b[41])
	r.Dest.Port = binary.BigEndian.Uint16(b[58:])
	// Encode never sends more milliseconds than a time.Duration holds;
	// multiplying more out would wrap to a wrong, even negative, time
	// that the backup would then install.
	timeout, left := binary.BigEndian.Uint64(b[60:]), binary.BigEndian.Uint64(b[68:])
	if !ok || !okc || !okd || timeout > maxMS || left > maxMS {
		return Record{}, errRecord
	}
	r.Timeout = time.Duration(timeout) * time.Millisecond
	r.Left = time.Duration(left) * time.Millisecond
	return r, nil
}

// Encode packs records into datagrams.
func Encode(recs []Record) [][]byte {
	var out [][]byte
	for len(recs) > 0 {
		n := min(len(recs), maxRecs)
		b := make([]byte, headerLen+n*recordLen)
		copy(b, magic[:])
		binary.BigEndian.PutUint16(b[4:], uint16(n))
		for i := range n {
			putRecord(b[headerLen+i*recordLen:], recs[i])
		}
		out = append(out, b)
		recs = recs[n:]
	}
	return out
}

// Decode unpacks one datagram.
func Decode(b []byte) ([]Record, error) {
	if len(b) < headerLen || [4]byte(b[:4]) != magic {
		return nil, errors.New("statesync: not a govs sync datagram")
	}
	n := int(binary.BigEndian.Uint16(b[4:]))
	if len(b) != headerLen+n*recordLen {
		return nil, errors.New("statesync: truncated datagram")
	}
	recs := make([]Record, n)
	for i := range n {
		r, err := getRecord(b[headerLen+i*recordLen:])
		if err != nil {
			return nil, err
		}
		recs[i] = r
	}
	return recs, nil
}

// Options configure a Syncer.
type Options struct {
	// Table is the router's table: templates are read from it while
	// active and installed into it while backup.
	Table *table.Table
	// Local is this router's address, Peer the other's; only datagrams
	// from Peer are read.
	Local, Peer netip.Addr
	// Port is the UDP port on both routers; DefaultPort if zero.
	Port uint16
	// Active tells whether this router is the active one now.
	Active func() bool
	// Period and FullEvery pace the sending; 100 ms and 2 s if zero.
	Period, FullEvery time.Duration
	// Logger is discarded if nil.
	Logger *slog.Logger
}

// Run syncs until ctx is done.
func Run(ctx context.Context, o Options) error {
	if o.Port == 0 {
		o.Port = DefaultPort
	}
	if o.Period == 0 {
		o.Period = 100 * time.Millisecond
	}
	if o.FullEvery == 0 {
		o.FullEvery = 2 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(o.Local, o.Port)))
	if err != nil {
		return err
	}
	go func() {
		<-ctx.Done()
		conn.Close()
	}()
	go receive(conn, o)
	peer := net.UDPAddrFromAddrPort(netip.AddrPortFrom(o.Peer, o.Port))
	tick := time.NewTicker(o.Period)
	defer tick.Stop()
	var since, lastFull time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		if !o.Active() {
			since, lastFull = time.Time{}, time.Time{}
			continue
		}
		now := o.Table.Clock().Now()
		full := now.Sub(lastFull) >= o.FullEvery
		var recs []Record
		o.Table.Templates(func(tp *persistence.Template[*table.Dest]) bool {
			if !tp.Live(now) || (!full && tp.Created().Before(since)) {
				return true
			}
			svc := tp.Dest.Service()
			if svc == nil {
				return true
			}
			left := tp.Timeout()
			if tp.Controls() == 0 {
				left = tp.Expires().Sub(now)
			}
			recs = append(recs, Record{Service: svc.Key(), Client: tp.Key.Client, Dest: tp.Dest.Key(),
				Timeout: tp.Timeout(), Left: left})
			return true
		})
		// Templates made in the very tick that ran the scan are caught by
		// the next one: since starts a period back.
		since = now.Add(-o.Period)
		if full {
			lastFull = now
		}
		for _, b := range Encode(recs) {
			if _, err := conn.WriteToUDP(b, peer); err != nil {
				o.Logger.Debug("statesync: send", "error", err.Error())
				break
			}
		}
	}
}

func receive(conn *net.UDPConn, o Options) {
	buf := make([]byte, 2048)
	for {
		n, from, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		if from.Addr().Unmap() != o.Peer.Unmap() || o.Active() {
			continue // not our peer, or we are the authority now
		}
		recs, err := Decode(buf[:n])
		if err != nil {
			o.Logger.Debug("statesync: dropped datagram", "from", from.String(), "error", err.Error())
			continue
		}
		now := o.Table.Clock().Now()
		for _, r := range recs {
			if err := o.Table.InstallTemplate(r.Service, r.Client, r.Dest, r.Timeout, now.Add(r.Left)); err != nil {
				o.Logger.Debug("statesync: template not installed", "error", err.Error())
			}
		}
	}
}
