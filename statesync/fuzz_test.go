package statesync

import (
	"encoding/binary"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/govs/govs/model"
)

// FuzzDecode feeds arbitrary datagrams to Decode. What it accepts must
// hold as many records as the header counts, with times that are durations
// (a backup installs templates with them) equal to the milliseconds sent,
// and must be a fixed point of
// Encode then Decode: a template passed on by a router that took over
// arrives as it was first sent.
func FuzzDecode(f *testing.F) {
	recs := []Record{
		{Service: model.TCPKey(netip.MustParseAddrPort("192.0.2.100:80")), Client: netip.MustParseAddr("203.0.113.9"),
			Dest: model.DestKey{Addr: netip.MustParseAddr("198.51.100.10"), Port: 80}, Timeout: 5 * time.Minute, Left: time.Minute},
		{Service: model.UDPKey(netip.MustParseAddrPort("[2001:db8::1]:53")), Client: netip.MustParseAddr("2001:db8::77"),
			Dest: model.DestKey{Addr: netip.MustParseAddr("2001:db8::9"), Port: 5353}, Timeout: time.Second},
		{Service: model.MarkKey(model.IPv6, 80), Client: netip.MustParseAddr("2001:db8::77"),
			Dest: model.DestKey{Addr: netip.MustParseAddr("2001:db8::9")}, Timeout: time.Hour, Left: time.Hour},
		{Service: model.MarkKey(model.IPv4, 1), Client: netip.MustParseAddr("203.0.113.1"),
			Dest: model.DestKey{Addr: netip.MustParseAddr("198.51.100.1")}, Left: 1500 * time.Millisecond},
	}
	for _, b := range Encode(recs) {
		f.Add(b)
	}
	for _, r := range recs {
		f.Add(Encode([]Record{r})[0])
	}
	f.Add([]byte("GVS1\x00\x00"))
	f.Add([]byte("GVS1\x00\x01"))
	f.Add([]byte("GVS0\x00\x00"))
	big := Encode(recs[:1])[0]
	binary.BigEndian.PutUint64(big[headerLen+60:], 1<<63)
	f.Add(big)
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := Decode(b)
		if err != nil {
			if got != nil {
				t.Fatal("records returned with an error")
			}
			return
		}
		if n := int(binary.BigEndian.Uint16(b[4:])); len(got) != n {
			t.Fatalf("%d records decoded, header says %d", len(got), n)
		}
		for i, r := range got {
			rec := b[headerLen+i*recordLen:]
			if r.Timeout < 0 || r.Left < 0 || uint64(r.Timeout.Milliseconds()) != binary.BigEndian.Uint64(rec[60:]) ||
				uint64(r.Left.Milliseconds()) != binary.BigEndian.Uint64(rec[68:]) {
				t.Fatalf("record %d: timeout %v, left %v from %x", i, r.Timeout, r.Left, rec[60:76])
			}
			if !r.Client.IsValid() || !r.Dest.Addr.IsValid() || !r.Service.IsMark() && !r.Service.Addr.IsValid() {
				t.Fatalf("record %d: an address is missing: %+v", i, r)
			}
		}
		var again []Record
		for _, d := range Encode(got) {
			if len(d) > 1400 {
				t.Fatalf("Encode made a datagram of %d bytes", len(d))
			}
			rs, err := Decode(d)
			if err != nil {
				t.Fatalf("Decode(Encode(records)): %v", err)
			}
			again = append(again, rs...)
		}
		if len(got) == 0 && len(again) == 0 {
			return
		}
		if !reflect.DeepEqual(again, got) {
			t.Fatalf("Decode(Encode(records)) differs:\n got %+v\nwant %+v", again, got)
		}
	})
}

// FuzzEncode builds one record from arbitrary fields, as the active router
// reads them from its table: Decode must give it back exactly.
func FuzzEncode(f *testing.F) {
	f.Add(uint8(6), []byte{192, 0, 2, 100}, uint16(80), uint32(0), []byte{203, 0, 113, 9},
		[]byte{198, 51, 100, 10}, uint16(80), int64(300000), int64(60000))
	f.Add(uint8(0), []byte{}, uint16(0), uint32(80), []byte{0x20, 0x01, 0x0d, 0xb8, 15: 0x77},
		[]byte{0x20, 0x01, 0x0d, 0xb8, 15: 9}, uint16(0), int64(3600000), int64(-5))
	f.Fuzz(func(t *testing.T, proto uint8, vip []byte, port uint16, mark uint32, client, dest []byte,
		dport uint16, timeoutMS, leftMS int64) {
		addr := func(b []byte) (netip.Addr, bool) {
			a, ok := netip.AddrFromSlice(b)
			return a.Unmap(), ok
		}
		var r Record
		var ok1, ok2, ok3 bool
		if mark != 0 {
			fam := model.IPv4
			if proto%2 == 1 {
				fam = model.IPv6
			}
			r.Service, ok1 = model.MarkKey(fam, mark), true
		} else {
			a, ok := addr(vip)
			p := model.ProtoTCP
			if proto%2 == 1 {
				p = model.ProtoUDP
			}
			r.Service, ok1 = model.ServiceKey{Proto: p, Addr: a, Port: port}, ok
		}
		r.Client, ok2 = addr(client)
		r.Dest.Addr, ok3 = addr(dest)
		if !ok1 || !ok2 || !ok3 {
			return
		}
		r.Dest.Port = dport
		// The table's times are whole milliseconds on the wire; Left below
		// zero is a template that has expired, sent as 0.
		r.Timeout = time.Duration(max(0, timeoutMS)%(1<<40)) * time.Millisecond
		r.Left = time.Duration(leftMS%(1<<40)) * time.Millisecond
		want := r
		want.Left = max(0, r.Left)
		d := Encode([]Record{r})
		if len(d) != 1 {
			t.Fatalf("%d datagrams for one record", len(d))
		}
		got, err := Decode(d[0])
		if err != nil {
			t.Fatalf("Decode(Encode(r)): %v", err)
		}
		if len(got) != 1 || got[0] != want {
			t.Fatalf("Decode(Encode(r)) = %+v, want %+v", got, want)
		}
	})
}
