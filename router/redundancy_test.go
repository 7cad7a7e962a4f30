package router

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/govs/govs/model"
	"github.com/govs/govs/vrrp"
)

func TestVIPsOf(t *testing.T) {
	cfg := &model.Config{Global: model.Global{Network: model.ForwardNAT,
		NATRouter: netip.MustParseAddr("198.51.100.254"), NATRouterDev: "eth1:1", NATPrefixLen: 24}}
	for _, s := range []model.Service{
		{Name: "a", Active: true, VIP: netip.MustParseAddr("192.0.2.100"), Device: "eth0:1", Port: 80},
		{Name: "b", Active: true, VIP: netip.MustParseAddr("192.0.2.100"), Device: "eth0:1", Port: 443},
		{Name: "c", Active: false, VIP: netip.MustParseAddr("192.0.2.101"), Device: "eth0", Port: 80},
		{Name: "d", Active: true, VIP: netip.MustParseAddr("2001:db8::100"), Device: "eth0", Port: 80},
	} {
		cfg.Services = append(cfg.Services, s)
	}
	want := []vrrp.VIP{
		{Prefix: netip.MustParsePrefix("192.0.2.100/32"), Device: "eth0:1"},
		{Prefix: netip.MustParsePrefix("2001:db8::100/128"), Device: "eth0"},
		{Prefix: netip.MustParsePrefix("198.51.100.254/24"), Device: "eth1:1"},
	}
	if got := vipsOf(cfg); !slices.Equal(got, want) {
		t.Errorf("vipsOf: %v, want %v", got, want)
	}
	cfg.Global.Network = model.ForwardDR
	if got := vipsOf(cfg); len(got) != 2 {
		t.Errorf("the NAT router address without network = nat: %v", got)
	}
}

// The node owning primary gets the higher default priority; pulse's
// keepalive and deadtime become the advert and master-down intervals
// unless vrrp_advert_ms is set.
func TestRedundancyDefaults(t *testing.T) {
	local, other := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("192.0.2.11")
	gl := model.Global{BackupActive: true, Primary: local, Backup: other, Keepalive: 2e9, Deadtime: 5e9}
	r := &Router{}
	d, err := newRedundancy(r, &model.Config{Global: gl})
	if err != nil {
		t.Fatal(err)
	}
	if d.cfg.Priority != DefaultPrimaryPriority || d.peer != other || d.cfg.VRID != DefaultVRID ||
		d.cfg.Interval != gl.Keepalive || d.cfg.DownInterval != gl.Deadtime || d.cfg.Preempt {
		t.Errorf("primary: %+v peer %v", d.cfg, d.peer)
	}
	gl.Primary, gl.Backup = other, local
	gl.VRRPAdvert, gl.VRRPVRID, gl.VRRPPreempt = 1e8, 9, true
	d, err = newRedundancy(r, &model.Config{Global: gl})
	if err != nil {
		t.Fatal(err)
	}
	if d.cfg.Priority != DefaultBackupPriority || d.peer != other || d.cfg.VRID != 9 ||
		d.cfg.Interval != 1e8 || d.cfg.DownInterval != 0 || !d.cfg.Preempt {
		t.Errorf("backup: %+v peer %v", d.cfg, d.peer)
	}
	gl.Backup = netip.MustParseAddr("192.0.2.12")
	if _, err := newRedundancy(r, &model.Config{Global: gl}); err == nil {
		t.Error("a host with neither address got redundancy")
	}
	gl.BackupActive = false
	if d, err := newRedundancy(r, &model.Config{Global: gl}); d != nil || err != nil {
		t.Errorf("without backup_active: %v %v", d, err)
	}
}
