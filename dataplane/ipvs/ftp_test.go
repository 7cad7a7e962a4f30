package ipvs

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/govs/govs/model"
	"github.com/govs/govs/scheduler"
	"github.com/govs/govs/table"
)

// An FTP service makes the plane load ip_vs_ftp once, and a failure to
// load it does not refuse the configuration. Direct-routing FTP marks port
// 20 besides fwmark_ports; NAT FTP marks fwmark_ports only.
func TestFTPService(t *testing.T) {
	for _, fail := range []bool{false, true} {
		var loads []string
		r := &rig{t: t, k: newFakeKernel(), m: &fakeMarker{}, state: filepath.Join(t.TempDir(), "state.json"),
			tb: table.New(table.Options{NewScheduler: scheduler.New})}
		p, err := New(r.tb, Options{Kernel: r.k, Marker: r.m, StateFile: r.state, RepairInterval: -1, StatsInterval: -1,
			LoadModule: func(name string) error {
				loads = append(loads, name)
				if fail {
					return errors.New("not permitted")
				}
				return nil
			}})
		if err != nil {
			t.Fatal(err)
		}
		r.p = p
		ftpSvc := func(fwd model.Forward) model.Service {
			return model.Service{Name: "ftp", Active: true, Proto: model.ProtoTCP, VIP: vipMark, Port: 21, FWMark: 21,
				MarkPorts: model.PortRanges{{First: 21, Last: 21}, {First: 10000, Last: 20000}}, FTP: true,
				Scheduler: model.SchedRR, Persistence: model.Persistence{Timeout: 300 * time.Second},
				RealServers: []model.RealServer{{Name: "a", Addr: rs1, Weight: 1, Active: true, Forward: fwd}}}
		}
		r.apply(&model.Config{Services: []model.Service{ftpSvc(model.ForwardNAT)}})
		if rules := r.m.get(); len(rules) != 1 || rules[0].String() != "ip daddr 192.0.2.40 tcp dport { 21, 10000-20000 } meta mark set 0x00000015" {
			t.Errorf("NAT FTP rules %v", rules)
		}
		r.apply(&model.Config{Services: []model.Service{ftpSvc(model.ForwardDR)}})
		if rules := r.m.get(); len(rules) != 1 || rules[0].String() != "ip daddr 192.0.2.40 tcp dport { 20, 21, 10000-20000 } meta mark set 0x00000015" {
			t.Errorf("DR FTP rules %v", rules)
		}
		want := 1
		if fail {
			want = 2 // retried at the next configuration
		}
		if len(loads) != want || loads[0] != FTPModule {
			t.Errorf("fail=%v: modules loaded %v", fail, loads)
		}
		if r.svc(model.MarkKey(model.IPv4, 21)) == nil {
			t.Error("no FTP mark service")
		}
		p.Close(t.Context())
	}
}
