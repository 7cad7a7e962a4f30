package ipvs

import (
	"strings"
	"testing"
)

// What Debian's 6.1 prints in /proc/net/ip_vs_conn for an established
// NAT connection, a TIME_WAIT one, a firewall-mark template (its mark in
// the virtual address) and an IPv6 connection.
const procConns = `Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData
TCP CB007102 9C40 C000020A 4E20 C6336410 0050 ESTABLISHED     899
TCP CB007103 9C41 C000020A 4E20 C633640B 0050 TIME_WAIT       118
IP  CB007102 0000 00000050 0000 C633640C 0000 NONE            299
TCP 2001:0db8:00ff:0000:0000:0000:0000:0002 D431 2001:0db8:0000:0000:0000:0000:0000:0010 01BB 2001:0db8:0001:0000:0000:0000:0000:0011 01BB ESTABLISHED     898
`

func TestParseConns(t *testing.T) {
	cs, err := parseConns(strings.NewReader(procConns))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range cs {
		got = append(got, strings.Join([]string{c.Proto, c.Source, c.Virtual, c.Destination, c.State}, " "))
	}
	want := []string{
		"IP 203.0.113.2:0 0.0.0.80:0 198.51.100.12:0 NONE",
		"TCP 203.0.113.2:40000 192.0.2.10:20000 198.51.100.16:80 ESTABLISHED",
		"TCP 203.0.113.3:40001 192.0.2.10:20000 198.51.100.11:80 TIME_WAIT",
		"TCP [2001:db8:ff::2]:54321 [2001:db8::10]:443 [2001:db8:1::11]:443 ESTABLISHED",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("parsed\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !cs[0].Template || cs[1].Template || cs[2].Expires != 118 {
		t.Errorf("template or expiry wrong: %+v", cs)
	}
	if _, err := parseConns(strings.NewReader("header\nTCP ZZ 0050 C000020A 0050 C633640B 0050 ESTABLISHED 1\n")); err == nil {
		t.Error("a bad address parsed")
	}
}
