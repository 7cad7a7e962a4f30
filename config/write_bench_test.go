package config

import (
	"fmt"
	"io"
	"net/netip"
	"testing"

	"github.com/govs/govs/model"
)

// BenchmarkWrite writes a configuration of 1,000 services of 10 real
// servers each, as every web or API edit and every history record does.
func BenchmarkWrite(b *testing.B) {
	c := &model.Config{Global: model.DefaultGlobal()}
	for i := range 1000 {
		s := model.DefaultService(fmt.Sprintf("svc%d", i))
		s.Active, s.Device = true, "eth0"
		s.VIP = netip.AddrFrom4([4]byte{192, 0, 2, byte(i % 250)})
		s.Port = uint16(1000 + i)
		s.Persistence.Timeout = 300e9
		for j := range 10 {
			r := model.DefaultRealServer(fmt.Sprintf("rs%d", j))
			r.Addr, r.Port, r.Active, r.Weight = netip.AddrFrom4([4]byte{198, 51, 100, byte(j)}), s.Port, true, j+1
			s.RealServers = append(s.RealServers, r)
		}
		c.Services = append(c.Services, s)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := Write(io.Discard, c); err != nil {
			b.Fatal(err)
		}
	}
}
