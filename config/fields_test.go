package config

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/govs/govs/model"
)

// A keyword set one at a time reads its value as the file does: the same
// spellings are accepted, the same refused with the same words.
func TestSetKeywordsAsTheFileReadsThem(t *testing.T) {
	s := model.DefaultService("web")
	for _, kv := range [][]string{
		{"address", "192.0.2.10", "eth0:1"}, {"port", "http"}, {"fwmark", "0x10"},
		{"fwmark_ports", "http,https,8000-8010"}, {"persistent", "300"}, {"sorry_server", "198.51.100.9"},
		{"check_type", "http"}, {"one_packet", "1"},
	} {
		if _, err := SetService(&s, kv[0], kv[1:]...); err != nil {
			t.Fatalf("%v: %v", kv, err)
		}
	}
	if s.VIP != netip.MustParseAddr("192.0.2.10") || s.Device != "eth0:1" || s.Port != 80 || s.FWMark != 16 ||
		s.MarkPorts.String() != "80,443,8000-8010" || s.Persistence.Timeout != 300*time.Second || !s.OnePacket ||
		s.Sorry != netip.MustParseAddrPort("198.51.100.9:0") || s.Check.Extra["check_type"] != "http" {
		t.Fatalf("service: %+v", s)
	}
	// 0.0.0.0 is Piranha's "no sorry server".
	if _, err := SetService(&s, "sorry_server", "0.0.0.0"); err != nil || s.Sorry.IsValid() {
		t.Fatalf("sorry_server = 0.0.0.0: %v %v", s.Sorry, err)
	}
	for _, kv := range [][]string{{"one_packet", "yes"}, {"port", "nosuchservice"}, {"scheduler", "fastest"},
		{"fwmark_ports", "0"}, {"nosuch", "1"}, {"address", "192.0.2.1"}} {
		before := s
		_, err := SetService(&s, kv[0], kv[1:]...)
		if err == nil {
			t.Errorf("%v accepted", kv)
		}
		if s.Port != before.Port || s.OnePacket != before.OnePacket || s.Scheduler != before.Scheduler {
			t.Errorf("%v changed the service though refused", kv)
		}
	}
	// The words are the parser's.
	_, err := SetService(&s, "one_packet", "yes")
	_, _, perr := Parse("t.cf", []byte("virtual v {\n one_packet = yes\n}\n"))
	if err == nil || perr == nil || !strings.Contains(perr.Error(), err.Error()) {
		t.Errorf("field: %v; file: %v", err, perr)
	}

	r := model.DefaultRealServer("a")
	if _, err := SetServer(&s, &r, "port", "https"); err != nil || r.Port != 443 {
		t.Fatalf("server port: %d %v", r.Port, err)
	}
	if _, err := SetServer(&s, &r, "weight", "70000"); err == nil {
		t.Error("weight 70000 accepted")
	}
	g := model.DefaultGlobal()
	notes, err := SetGlobal(&g, "primary", "010.0.0.1")
	if err != nil || g.Primary != netip.MustParseAddr("8.0.0.1") || len(notes) != 1 {
		t.Fatalf("primary in inet_aton form: %v %v %v", g.Primary, notes, err)
	}
	if _, err := SetGlobal(&g, "network", "direct"); err != nil || g.Network != model.ForwardDR {
		t.Fatalf("network: %v %v", g.Network, err)
	}
}
