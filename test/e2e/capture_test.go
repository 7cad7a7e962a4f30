//go:build linux

package e2e

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/govs/govs/internal/netnstest"
	"github.com/govs/govs/vrrp"
	"github.com/mdlayher/arp"
	"github.com/mdlayher/ndp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// wireEvent is what a captured frame says about VIP ownership: a VRRP
// advert, or an announcement that the VIP lives at the sender's MAC (a
// gratuitous ARP, any ARP reply for it, a neighbour advertisement).
type wireEvent struct {
	at  time.Time
	mac string
	// advert is set for VRRP adverts, with their source and contents.
	advert *vrrp.Advert
	src    netip.Addr
	// announce names the kind of announcement; empty for adverts.
	announce string
}

// decodeFrames keeps the frames that are adverts or announcements of vip.
func decodeFrames(t *testing.T, frames []netnstest.Frame, vip netip.Addr) []wireEvent {
	t.Helper()
	var out []wireEvent
	for _, f := range frames {
		b := f.Data
		if len(b) < 14 {
			continue
		}
		ev := wireEvent{at: f.Time, mac: net.HardwareAddr(b[6:12]).String()}
		// advert records a VRRP advert of either family in ev.
		advert := func(body []byte, src, dst netip.Addr) bool {
			a, err := vrrp.Parse(body, src, dst)
			if err != nil {
				t.Errorf("a VRRP packet from %s on the wire does not parse: %v", src, err)
				return false
			}
			ev.advert, ev.src = a, src
			return true
		}
		payload := b[14:]
		switch binary.BigEndian.Uint16(b[12:]) {
		case 0x0806:
			var p arp.Packet
			if p.UnmarshalBinary(payload) != nil || p.SenderIP != vip {
				continue
			}
			ev.announce = "ARP reply"
			if p.Operation == arp.OperationRequest {
				ev.announce = "ARP request"
			}
			if p.TargetIP == vip {
				ev.announce = "gratuitous " + ev.announce
			}
		case 0x0800:
			h, err := ipv4.ParseHeader(payload)
			if err != nil || h.Protocol != vrrp.Protocol || h.TotalLen > len(payload) {
				continue
			}
			src, _ := netip.AddrFromSlice(h.Src.To4())
			dst, _ := netip.AddrFromSlice(h.Dst.To4())
			if !advert(payload[h.Len:h.TotalLen], src, dst) {
				continue
			}
		case 0x86dd:
			h, err := ipv6.ParseHeader(payload)
			if err != nil || ipv6.HeaderLen+h.PayloadLen > len(payload) {
				continue
			}
			body := payload[ipv6.HeaderLen : ipv6.HeaderLen+h.PayloadLen]
			src, _ := netip.AddrFromSlice(h.Src)
			dst, _ := netip.AddrFromSlice(h.Dst)
			switch h.NextHeader {
			case vrrp.Protocol:
				if !advert(body, src, dst) {
					continue
				}
			case 58:
				m, err := ndp.ParseMessage(body)
				na, ok := m.(*ndp.NeighborAdvertisement)
				if err != nil || !ok || na.TargetAddress != vip {
					continue
				}
				ev.announce = "neighbour advertisement"
				if !na.Solicited {
					ev.announce = "unsolicited " + ev.announce
				}
			default:
				continue
			}
		default:
			continue
		}
		out = append(out, ev)
	}
	return out
}

// violation is an announcement by a router that was not master.
type violation struct {
	at       time.Time
	mac, why string
}

// transitionLead is how far a router's advert may follow its own
// announcement and still count as having come first: a router that
// becomes master sends both at once, in either order.
const transitionLead = 20 * time.Millisecond

// announcementsOutsideMastership applies the rule a LAN needs, read off the
// wire alone: a router may announce the VIP only while it is master, which
// is while it sends adverts of a non-zero priority and has not heard one
// that beats it (a higher priority, or the same from a higher address).
// Leaving the master role it must fall silent within one of its advert
// intervals.
func announcementsOutsideMastership(evs []wireEvent) []violation {
	var bad []violation
	for i, e := range evs {
		if e.announce == "" {
			continue
		}
		var own *wireEvent
		for j := i - 1; j >= 0; j-- {
			if evs[j].advert != nil && evs[j].mac == e.mac {
				own = &evs[j]
				break
			}
		}
		if own == nil {
			for j := i + 1; j < len(evs) && evs[j].at.Sub(e.at) <= transitionLead; j++ {
				if evs[j].advert != nil && evs[j].mac == e.mac {
					own = &evs[j]
					break
				}
			}
		}
		if own == nil {
			bad = append(bad, violation{e.at, e.mac, e.announce + " before it ever sent an advert"})
			continue
		}
		grace := own.advert.Interval
		left, why := own.at.Add(2*own.advert.Interval), fmt.Sprintf("its adverts stopped at %s", own.at.Format("15:04:05.000"))
		if own.advert.Priority == 0 {
			left, why = own.at, "after its priority-0 advert (it resigned)"
		}
		for _, o := range evs {
			if o.advert == nil || o.mac == e.mac || !o.at.After(own.at) || o.at.After(e.at) || !o.at.Before(left) {
				continue
			}
			if p, q := o.advert.Priority, own.advert.Priority; p > q || p == q && o.src.Compare(own.src) > 0 {
				left, why = o.at, fmt.Sprintf("after an advert from %s with priority %d beat its %d", o.src, p, q)
				break
			}
		}
		if d := e.at.Sub(left); d > grace {
			bad = append(bad, violation{e.at, e.mac, fmt.Sprintf("%s %v %s", e.announce, d.Round(time.Millisecond), why)})
		}
	}
	return bad
}

// describe lists the events for a failure message.
func describe(evs []wireEvent, names map[string]*node) string {
	var b strings.Builder
	for _, e := range evs {
		who := e.mac
		if n := names[e.mac]; n != nil {
			who = fmt.Sprintf("%s %d", n.kind, n.i+1)
		}
		if e.advert != nil {
			fmt.Fprintf(&b, "%s %-12s advert from %s priority %d interval %v\n", e.at.Format("15:04:05.000"), who,
				e.src, e.advert.Priority, e.advert.Interval)
		} else {
			fmt.Fprintf(&b, "%s %-12s %s\n", e.at.Format("15:04:05.000"), who, e.announce)
		}
	}
	return b.String()
}
