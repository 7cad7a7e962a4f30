//go:build linux

package ipvs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/govs/govs/model"
)

// nftMarker keeps govs's mark rules in an inet table of its own with one
// chain hooked at prerouting, mangle priority: where iptables -t mangle -A
// PREROUTING put them in Piranha's documentation, so marks are set before
// IPVS (at LOCAL_IN) looks for them. Other tables are never read or touched.
type nftMarker struct {
	mu    sync.Mutex
	c     *nftables.Conn
	table *nftables.Table
	chain *nftables.Chain
}

// NewNFTMarker connects to nftables in the calling thread's network
// namespace; rules go to the inet table named name.
func NewNFTMarker(name string) (Marker, error) {
	c, err := nftables.New(nftables.AsLasting())
	if err != nil {
		return nil, fmt.Errorf("nftables: %w", err)
	}
	t := &nftables.Table{Name: name, Family: nftables.TableFamilyINet}
	pol := nftables.ChainPolicyAccept
	ch := &nftables.Chain{Name: "prerouting", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityMangle, Policy: &pol}
	return &nftMarker{c: c, table: t, chain: ch}, nil
}

func be16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }

// normalize sorts port ranges and merges those that overlap or, when
// there are ranges, touch: an interval set refuses overlapping elements, and
// nft merges touching intervals of an anonymous set the same way.
func normalize(rs model.PortRanges) model.PortRanges {
	out := slices.Clone(rs)
	slices.SortFunc(out, func(a, b model.PortRange) int { return int(a.First) - int(b.First) })
	interval := slices.ContainsFunc(out, func(p model.PortRange) bool { return p.First != p.Last })
	merged := out[:0]
	for _, r := range out {
		if n := len(merged); n > 0 {
			last := &merged[n-1]
			if r.First <= last.Last || interval && int(r.First) == int(last.Last)+1 {
				last.Last = max(last.Last, r.Last)
				continue
			}
		}
		merged = append(merged, r)
	}
	return merged
}

// exprs builds the rule the way nft compiles the equivalent text, so that
// `nft list ruleset` shows it as if typed by hand: a protocol dependency
// (meta nfproto, meta l4proto) before each payload match, a plain compare
// for one port, a range for one range, an anonymous set for several.
func (m *nftMarker) exprs(r MarkRule) ([]expr.Any, *nftables.Set, []nftables.SetElement) {
	var ex []expr.Any
	if r.VIP.IsValid() {
		proto, off, addr := byte(unix.NFPROTO_IPV4), uint32(16), r.VIP.AsSlice()
		if r.VIP.Is6() {
			proto, off = unix.NFPROTO_IPV6, 24
		}
		ex = append(ex,
			&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: uint32(len(addr))},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: addr})
	}
	l4 := byte(unix.IPPROTO_TCP)
	if r.Proto == model.ProtoUDP {
		l4 = unix.IPPROTO_UDP
	}
	ex = append(ex,
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{l4}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2})
	ports := normalize(r.Ports)
	var set *nftables.Set
	var elems []nftables.SetElement
	switch {
	case len(ports) == 1 && ports[0].First == ports[0].Last:
		ex = append(ex, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: be16(ports[0].First)})
	case len(ports) == 1:
		ex = append(ex, &expr.Range{Op: expr.CmpOpEq, Register: 1, FromData: be16(ports[0].First), ToData: be16(ports[0].Last)})
	default:
		interval := slices.ContainsFunc(ports, func(p model.PortRange) bool { return p.First != p.Last })
		set = &nftables.Set{Table: m.table, Anonymous: true, Constant: true, Interval: interval,
			KeyType: nftables.TypeInetService}
		if interval {
			if ports[0].First > 0 {
				elems = append(elems, nftables.SetElement{Key: be16(0), IntervalEnd: true})
			}
			for _, p := range ports {
				elems = append(elems, nftables.SetElement{Key: be16(p.First)})
				if p.Last < 0xffff {
					elems = append(elems, nftables.SetElement{Key: be16(p.Last + 1), IntervalEnd: true})
				}
			}
		} else {
			for _, p := range ports {
				elems = append(elems, nftables.SetElement{Key: be16(p.First)})
			}
		}
		ex = append(ex, &expr.Lookup{SourceRegister: 1, SetName: "__set%d"})
	}
	ex = append(ex,
		&expr.Immediate{Register: 1, Data: binaryutil.NativeEndian.PutUint32(r.Mark)},
		&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: 1})
	return ex, set, elems
}

func (m *nftMarker) Install(rules []MarkRule) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(rules) == 0 {
		return m.deleteTable()
	}
	m.c.AddTable(m.table)
	m.c.AddChain(m.chain)
	m.c.FlushChain(m.chain)
	for _, r := range rules {
		ex, set, elems := m.exprs(r)
		if set != nil {
			if err := m.c.AddSet(set, elems); err != nil {
				return fmt.Errorf("nftables: mark %d: %w", r.Mark, err)
			}
			lk := ex[len(ex)-3].(*expr.Lookup)
			lk.SetName, lk.SetID = set.Name, set.ID
		}
		m.c.AddRule(&nftables.Rule{Table: m.table, Chain: m.chain, Exprs: ex})
	}
	if err := m.c.Flush(); err != nil {
		return fmt.Errorf("nftables: install mark rules in table inet %s: %w", m.table.Name, err)
	}
	return nil
}

func (m *nftMarker) deleteTable() error {
	if _, err := m.c.ListTableOfFamily(m.table.Name, m.table.Family); err != nil {
		return nil // no table: nothing of ours is installed
	}
	m.c.DelTable(m.table)
	if err := m.c.Flush(); err != nil && !errors.Is(err, os.ErrNotExist) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("nftables: delete table inet %s: %w", m.table.Name, err)
	}
	return nil
}

func (m *nftMarker) Verify(rules []MarkRule) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.c.ListTableOfFamily(m.table.Name, m.table.Family); err != nil {
		return len(rules) == 0, nil
	}
	got, err := m.c.GetRules(m.table, m.chain)
	if err != nil {
		return false, nil
	}
	return len(got) == len(rules), nil
}

func (m *nftMarker) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	err := m.deleteTable()
	if e := m.c.CloseLasting(); err == nil {
		err = e
	}
	return err
}
