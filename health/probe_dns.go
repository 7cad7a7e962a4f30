package health

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"syscall"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// dnsProbe sends one query over UDP and judges the reply's rcode.
type dnsProbe struct {
	env    probeEnv
	spec   *probeSpec
	target netip.AddrPort
}

func (p *dnsProbe) query(id uint16) ([]byte, error) {
	name, err := dnsmessage.NewName(p.spec.dnsName)
	if err != nil {
		return nil, fmt.Errorf("dns_name %q: %v", p.spec.dnsName, err)
	}
	b := dnsmessage.NewBuilder(make([]byte, 0, 512), dnsmessage.Header{ID: id, RecursionDesired: true})
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(dnsmessage.Question{Name: name, Type: p.spec.dnsType, Class: dnsmessage.ClassINET}); err != nil {
		return nil, err
	}
	// EDNS(0), so that extended rcodes can be expected and large answers
	// are not truncated for nothing.
	if err := b.StartAdditionals(); err != nil {
		return nil, err
	}
	var rh dnsmessage.ResourceHeader
	if err := rh.SetEDNS0(1232, dnsmessage.RCodeSuccess, false); err != nil {
		return nil, err
	}
	if err := b.OPTResource(rh, dnsmessage.OPTResource{}); err != nil {
		return nil, err
	}
	return b.Finish()
}

func (p *dnsProbe) check(ctx context.Context, deadline time.Time) error {
	timeout := p.spec.interval
	id := uint16(rand.Uint32())
	q, err := p.query(id)
	if err != nil {
		return err
	}
	c, stop, err := p.env.connect(ctx, "udp", p.target, deadline)
	if err != nil {
		return connectError(err, timeout)
	}
	defer c.Close()
	defer stop()
	if _, err := c.Write(q); err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return errors.New("port unreachable (ICMP)")
		}
		return fmt.Errorf("send: %v", unwrapOp(err))
	}
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		if err != nil {
			switch {
			case isTimeout(err):
				return fmt.Errorf("no DNS reply within %s", timeout)
			case errors.Is(err, syscall.ECONNREFUSED):
				return errors.New("port unreachable (ICMP)")
			}
			return fmt.Errorf("read: %v", unwrapOp(err))
		}
		var msg dnsmessage.Parser
		h, err := msg.Start(buf[:n])
		if err != nil || h.ID != id || !h.Response {
			continue // stray or late datagram: keep waiting for ours
		}
		rcode := int(h.RCode)
		// An OPT record carries the high bits of an extended rcode.
		if err := msg.SkipAllQuestions(); err == nil {
			if err := msg.SkipAllAnswers(); err == nil {
				if err := msg.SkipAllAuthorities(); err == nil {
					for {
						rh, err := msg.AdditionalHeader()
						if err != nil {
							break
						}
						if rh.Type == dnsmessage.TypeOPT {
							rcode = int(rh.ExtendedRCode(h.RCode))
						}
						if err := msg.SkipAdditional(); err != nil {
							break
						}
					}
				}
			}
		}
		if rcode != p.spec.dnsRcode {
			return fmt.Errorf("DNS rcode %s, expected %s", rcodeName(rcode), rcodeName(p.spec.dnsRcode))
		}
		return nil
	}
}
