//go:build linux

package ipvs

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/govs/govs/model"
)

// Loading 10,000 services of 10 real servers each: govs against
// ipvsadm -R with the same table, in the same guest. The sizes come from
// GOVS_IPVS_BENCH (services; 0 skips).
func TestGuestBenchmark(t *testing.T) {
	topology(t)
	n := 10000
	if v := os.Getenv("GOVS_IPVS_BENCH"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			t.Fatalf("GOVS_IPVS_BENCH=%q", v)
		}
	}
	if n <= 0 {
		t.Skip("GOVS_IPVS_BENCH=0")
	}
	const perService = 10
	cfg := &model.Config{Global: model.Global{Network: model.ForwardNAT}}
	var restore strings.Builder
	for i := range n {
		vip := netip.AddrFrom4([4]byte{192, 0, 2, byte(1 + i%250)})
		port := uint16(1000 + i/250)
		s := gService(fmt.Sprintf("s%d", i), model.ProtoTCP, vip, port, model.SchedWLC)
		fmt.Fprintf(&restore, "-A -t %s -s wlc\n", hostPort(vip, port))
		for j := range perService {
			rs := netip.AddrFrom4([4]byte{198, 51, 100, byte(101 + j)})
			s.RealServers = append(s.RealServers, model.RealServer{Name: fmt.Sprintf("r%d", j), Addr: rs, Port: 80, Weight: 1, Active: true})
			fmt.Fprintf(&restore, "-a -t %s -r %s -m -w 1\n", hostPort(vip, port), hostPort(rs, 80))
		}
		cfg.Services = append(cfg.Services, s)
	}
	file := t.TempDir() + "/restore"
	if err := os.WriteFile(file, []byte(restore.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	// Each loader gets a network namespace of its own, so a fresh IPVS:
	// the kernel keeps deleted real servers in a trash list that every
	// later addition scans, so whoever loaded second into the same IPVS
	// would pay for the first one's table.
	fresh := func(ns string) {
		for _, c := range [][]string{{"ip", "netns", "add", ns}, {"ip", "-n", ns, "link", "set", "lo", "up"},
			{"ip", "-n", ns, "addr", "add", "198.51.100.1/24", "dev", "lo"}} {
			mustRun(t, c...)
		}
		t.Cleanup(func() { _, _ = run("ip", "netns", "del", ns) })
	}
	kernelIn := func(ns string) Kernel {
		var k Kernel
		if err := inNS(ns, func() (err error) { k, err = NewNetlinkKernel(); return err }); err != nil {
			t.Fatal(err)
		}
		return k
	}
	count := func(k Kernel) int {
		svcs, err := k.Services()
		if err != nil {
			t.Fatal(err)
		}
		return len(svcs)
	}

	fresh("bench-ipvsadm")
	k := kernelIn("bench-ipvsadm")
	defer k.Close()
	start := time.Now()
	if err := inNS("bench-ipvsadm", func() error { _, err := runFor(5*time.Minute, "sh", "-c", "ipvsadm -R < "+file); return err }); err != nil {
		t.Fatal(err)
	}
	ipvsadmTime := time.Since(start)
	if c := count(k); c != n {
		t.Fatalf("ipvsadm -R loaded %d services, want %d", c, n)
	}
	start = time.Now()
	if err := inNS("bench-ipvsadm", func() error { _, err := runFor(5*time.Minute, "ipvsadm", "-C"); return err }); err != nil {
		t.Fatal(err)
	}
	flushTime := time.Since(start)

	fresh("bench-govs")
	gk := kernelIn("bench-govs")
	var marker Marker
	if err := inNS("bench-govs", func() (err error) { marker, err = NewNFTMarker("govs"); return err }); err != nil {
		t.Fatal(err)
	}
	g := newGuestPlane(t, Options{Kernel: gk, Marker: marker})
	start = time.Now()
	g.apply(cfg)
	govsTime := time.Since(start)
	if c := count(gk); c != n {
		t.Fatalf("govs loaded %d services, want %d", c, n)
	}
	start = time.Now()
	if err := g.p.Reconcile(); err != nil {
		t.Fatal(err)
	}
	verifyTime := time.Since(start)
	start = time.Now()
	if err := g.p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	closeTime := time.Since(start)
	k2 := kernelIn("bench-govs")
	defer k2.Close()
	if c := count(k2); c != 0 {
		t.Fatalf("%d services left after Close", c)
	}
	fmt.Printf("ipvs-vm bench: %d services x %d real servers: ipvsadm -R %.2fs, govs %.2fs (%.2fx); "+
		"ipvsadm -C %.2fs, govs Close %.2fs; a full drift check %.2fs\n",
		n, perService, ipvsadmTime.Seconds(), govsTime.Seconds(), govsTime.Seconds()/ipvsadmTime.Seconds(),
		flushTime.Seconds(), closeTime.Seconds(), verifyTime.Seconds())
	if govsTime > ipvsadmTime {
		t.Logf("govs was slower than ipvsadm -R")
	}
}
