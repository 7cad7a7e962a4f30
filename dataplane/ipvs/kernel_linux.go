//go:build linux

package ipvs

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"time"

	cfipvs "github.com/cloudflare/ipvs"
	"github.com/cloudflare/ipvs/netmask"
	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"

	"github.com/govs/govs/model"
	"github.com/govs/govs/table"
)

// IPVS generic netlink constants (include/uapi/linux/ip_vs.h) for what
// cloudflare/ipvs does not cover: the sync daemon commands.
const (
	genlName      = "IPVS"
	genlVersion   = 1
	cmdNewDaemon  = 9
	cmdDelDaemon  = 10
	cmdGetDaemon  = 11
	attrDaemon    = 3
	daemonState   = 1
	daemonIfn     = 2
	daemonSyncID  = 3
	netlinkErrMsg = "ipvs netlink"
)

// netlinkKernel is Kernel over generic netlink in the caller's network
// namespace.
type netlinkKernel struct {
	c      cfipvs.Client
	genl   *genetlink.Conn
	family genetlink.Family
	batch  *batcher
}

// NewNetlinkKernel connects to IPVS in the network namespace of the
// calling thread. It fails with ErrNoIPVS when the kernel has no IPVS.
func NewNetlinkKernel() (Kernel, error) {
	genl, err := genetlink.Dial(nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", netlinkErrMsg, err)
	}
	fam, err := genl.GetFamily(genlName)
	if err != nil {
		genl.Close()
		if errors.Is(err, os.ErrNotExist) {
			return nil, ErrNoIPVS
		}
		return nil, fmt.Errorf("%s: %w", netlinkErrMsg, err)
	}
	c, err := cfipvs.New()
	if err != nil {
		genl.Close()
		return nil, fmt.Errorf("%s: %w", netlinkErrMsg, err)
	}
	b, err := newBatcher(fam.ID)
	if err != nil {
		genl.Close()
		return nil, fmt.Errorf("%s: %w", netlinkErrMsg, err)
	}
	return &netlinkKernel{c: c, genl: genl, family: fam, batch: b}, nil
}

func afOf(f model.Family) cfipvs.AddressFamily {
	if f == model.IPv6 {
		return cfipvs.INET6
	}
	return cfipvs.INET
}

// prefix is the persistence netmask's length and the address's width. A
// length of 0 or out of range is the full width: persistence per client
// address.
func (s KService) prefix() (prefix, bits int) {
	bits = 32
	if s.Key.AddrFamily() == model.IPv6 {
		bits = 128
	}
	prefix = s.PrefixLen
	if prefix <= 0 || prefix > bits {
		prefix = bits
	}
	return prefix, bits
}

func toCF(s KService) cfipvs.Service {
	fam := s.Key.AddrFamily()
	prefix, bits := s.prefix()
	out := cfipvs.Service{
		Scheduler: s.Scheduler,
		Timeout:   s.Timeout,
		Flags:     cfipvs.Flags(s.Flags),
		Family:    afOf(fam),
		Netmask:   netmask.MaskFrom(prefix, bits),
	}
	if s.Key.IsMark() {
		out.FWMark = s.Key.FWMark
	} else {
		out.Address = s.Key.Addr
		out.Port = s.Key.Port
		out.Protocol = cfipvs.Protocol(s.Key.Proto)
	}
	return out
}

func fromCF(s cfipvs.ServiceExtended) KService {
	fam := model.IPv4
	if s.Family == cfipvs.INET6 {
		fam = model.IPv6
	}
	var k model.ServiceKey
	if s.FWMark != 0 {
		k = model.MarkKey(fam, s.FWMark)
	} else {
		k = model.ServiceKey{Proto: model.Proto(s.Protocol), Addr: s.Address.Unmap(), Port: s.Port}
	}
	st := s.Stats64
	if st == (cfipvs.Stats{}) {
		st = s.Stats
	}
	prefix := 0
	if s.Netmask.IsValid() {
		prefix = s.Netmask.Bits()
	}
	return KService{Key: k, Scheduler: s.Scheduler, Flags: uint32(s.Flags) & svcFlagsMask,
		Timeout: s.Timeout, PrefixLen: prefix, Stats: statsOf(st), Rates: ratesOf(st)}
}

func ratesOf(s cfipvs.Stats) table.Rates {
	return table.Rates{CPS: s.ConnectionRate, InPPS: s.IncomingPacketRate, OutPPS: s.OutgoingPacketRate,
		InBPS: s.IncomingByteRate, OutBPS: s.OutgoingByteRate}
}

func statsOf(s cfipvs.Stats) table.Stats {
	return table.Stats{Conns: s.Connections, InPkts: s.IncomingPackets, OutPkts: s.OutgoingPackets,
		InBytes: s.IncomingBytes, OutBytes: s.OutgoingBytes}
}

func destToCF(d KDest) cfipvs.Destination {
	out := cfipvs.Destination{Address: d.Addr, Port: d.Port, Weight: uint32(d.Weight),
		UpperThreshold: d.Upper, LowerThreshold: d.Lower, Family: afOf(model.FamilyOf(d.Addr)),
		TunnelType: cfipvs.TunnelType(d.Tunnel)}
	switch d.Forward {
	case model.ForwardDR:
		out.FwdMethod = cfipvs.DirectRoute
	case model.ForwardTUN:
		out.FwdMethod = cfipvs.Tunnel
	default:
		out.FwdMethod = cfipvs.Masquerade
	}
	return out
}

func destFromCF(d cfipvs.DestinationExtended) KDest {
	out := KDest{Addr: d.Address.Unmap(), Port: d.Port, Weight: int(d.Weight), Upper: d.UpperThreshold,
		Lower: d.LowerThreshold, Tunnel: model.TunnelType(d.TunnelType), Active: int(d.ActiveConnections),
		Inactive: int(d.InactiveConnections), Persist: int(d.PersistentConnections)}
	switch d.FwdMethod {
	case cfipvs.Masquerade:
		out.Forward = model.ForwardNAT
	case cfipvs.DirectRoute:
		out.Forward = model.ForwardDR
	case cfipvs.Tunnel:
		out.Forward = model.ForwardTUN
	}
	st := d.Stats64
	if st == (cfipvs.Stats{}) {
		st = d.Stats
	}
	out.Stats, out.Rates = statsOf(st), ratesOf(st)
	return out
}

func (k *netlinkKernel) Services() ([]KService, error) {
	list, err := k.c.Services()
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: list services: %w", netlinkErrMsg, err)
	}
	out := make([]KService, len(list))
	for i, s := range list {
		out[i] = fromCF(s)
	}
	return out, nil
}

func (k *netlinkKernel) Dests(key model.ServiceKey) ([]KDest, error) {
	list, err := k.c.Destinations(toCF(KService{Key: key}))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: list real servers of %s: %w", netlinkErrMsg, key, err)
	}
	out := make([]KDest, len(list))
	for i, d := range list {
		out[i] = destFromCF(d)
	}
	return out, nil
}

func (k *netlinkKernel) Apply(ops []Op) (int, error) {
	if len(ops) == 0 {
		return 0, nil
	}
	return k.batch.apply(ops)
}

func (k *netlinkKernel) Timeouts() (Timeouts, error) {
	c, err := k.c.Config()
	if err != nil {
		return Timeouts{}, fmt.Errorf("%s: read timeouts: %w", netlinkErrMsg, err)
	}
	return Timeouts{TCP: time.Duration(c.TCPTimeout) * time.Second,
		TCPFin: time.Duration(c.TCPFinTimeout) * time.Second,
		UDP:    time.Duration(c.UDPTimeout) * time.Second}, nil
}

func (k *netlinkKernel) SetTimeouts(t Timeouts) error {
	err := k.c.SetConfig(cfipvs.Config{TCPTimeout: uint32(t.TCP / time.Second),
		TCPFinTimeout: uint32(t.TCPFin / time.Second), UDPTimeout: uint32(t.UDP / time.Second)})
	if err != nil {
		return fmt.Errorf("%s: set timeouts: %w", netlinkErrMsg, err)
	}
	return nil
}

func (k *netlinkKernel) Conns() ([]table.ConnStatus, error) {
	// /proc/net shows the namespace of the process's main thread;
	// thread-self the namespace of the thread that reads, the one the
	// netlink socket was opened from unless something moved it.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	f, err := os.Open("/proc/thread-self/net/ip_vs_conn")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseConns(f)
}

func (k *netlinkKernel) SetSysctl(name, value string) error {
	if err := writeSysctl("net.ipv4.vs."+name, value); err != nil {
		return fmt.Errorf("ipvs: setting net.ipv4.vs.%s: %w", name, err)
	}
	return nil
}

func (k *netlinkKernel) daemonMsg(cmd uint8, d Daemon, withIface bool) (genetlink.Message, error) {
	ae := netlink.NewAttributeEncoder()
	ae.Nested(attrDaemon, func(nae *netlink.AttributeEncoder) error {
		nae.Uint32(daemonState, uint32(d.State))
		if withIface {
			nae.String(daemonIfn, d.Iface)
			nae.Uint32(daemonSyncID, d.SyncID)
		}
		return nil
	})
	b, err := ae.Encode()
	if err != nil {
		return genetlink.Message{}, err
	}
	return genetlink.Message{Header: genetlink.Header{Command: cmd, Version: genlVersion}, Data: b}, nil
}

func (k *netlinkKernel) Daemons() ([]Daemon, error) {
	msg := genetlink.Message{Header: genetlink.Header{Command: cmdGetDaemon, Version: genlVersion}}
	msgs, err := k.genl.Execute(msg, k.family.ID, netlink.Request|netlink.Dump)
	if err != nil {
		return nil, fmt.Errorf("%s: list sync daemons: %w", netlinkErrMsg, err)
	}
	var out []Daemon
	for _, m := range msgs {
		ad, err := netlink.NewAttributeDecoder(m.Data)
		if err != nil {
			return nil, err
		}
		for ad.Next() {
			if ad.Type() != attrDaemon {
				continue
			}
			var d Daemon
			ad.Nested(func(nad *netlink.AttributeDecoder) error {
				for nad.Next() {
					switch nad.Type() {
					case daemonState:
						d.State = SyncState(nad.Uint32())
					case daemonIfn:
						d.Iface = nad.String()
					case daemonSyncID:
						d.SyncID = nad.Uint32()
					}
				}
				return nil
			})
			out = append(out, d)
		}
		if err := ad.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (k *netlinkKernel) StartDaemon(d Daemon) error {
	msg, err := k.daemonMsg(cmdNewDaemon, d, true)
	if err == nil {
		_, err = k.genl.Execute(msg, k.family.ID, netlink.Request|netlink.Acknowledge)
	}
	if err != nil {
		return fmt.Errorf("%s: start %s sync daemon on %s: %w", netlinkErrMsg, d.State, d.Iface, err)
	}
	return nil
}

func (k *netlinkKernel) StopDaemon(s SyncState) error {
	msg, err := k.daemonMsg(cmdDelDaemon, Daemon{State: s}, false)
	if err == nil {
		_, err = k.genl.Execute(msg, k.family.ID, netlink.Request|netlink.Acknowledge)
	}
	if err != nil {
		return fmt.Errorf("%s: stop %s sync daemon: %w", netlinkErrMsg, s, err)
	}
	return nil
}

func (k *netlinkKernel) Close() error {
	err := k.genl.Close()
	if e := k.batch.close(); err == nil {
		err = e
	}
	if c, ok := k.c.(interface{ Close() error }); ok {
		if e := c.Close(); err == nil {
			err = e
		}
	}
	return err
}
