//go:build linux

package e2e

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/govs/govs/internal/testutil"
)

// TestFailoverTimes measures failover in one harness for every pairing of
// govs and keepalived: the master (priority 150) crashes (stops, link
// down), and the time runs until the client's first fresh connection is
// answered by the backup (priority 100) that took over. Adverts every
// 100 ms. GOVS_VRRP_BENCH sets the runs per pairing (bench/vrrp-failover.sh
// runs 20); CI runs 2, to keep the harness working, and asserts only that
// every failover happened: figures are for the notes, not for pass/fail.
func TestFailoverTimes(t *testing.T) {
	runs, _ := strconv.Atoi(os.Getenv("GOVS_VRRP_BENCH"))
	if runs <= 0 {
		runs = 2
	}
	pairs := [][2]string{{"keepalived", "keepalived"}, {"govs", "keepalived"}, {"keepalived", "govs"}, {"govs", "govs"}}
	var report strings.Builder
	for _, kinds := range pairs {
		name := kinds[0] + "→" + kinds[1]
		t.Run(kinds[0]+"-to-"+kinds[1], func(t *testing.T) {
			l := newLAN(t, families[0], kinds)
			times := make([]time.Duration, 0, runs)
			for range runs {
				times = append(times, l.failoverOnce())
			}
			slices.Sort(times)
			ms := func(d time.Duration) string { return fmt.Sprintf("%.0f", float64(d)/1e6) }
			line := fmt.Sprintf("%-22s runs %2d  min %4s ms  median %4s ms  max %4s ms", name, len(times),
				ms(times[0]), ms(times[len(times)/2]), ms(times[len(times)-1]))
			t.Log(line)
			report.WriteString(line + "\n")
		})
	}
	t.Logf("failover, 100 ms adverts, master crash to first answer from the new master:\n%s", report.String())
	if f := os.Getenv("GOVS_VRRP_BENCH_OUT"); f != "" {
		_ = os.WriteFile(f, []byte(report.String()), 0o644)
	}
}

// failoverOnce starts the pair, crashes the master at a random phase of
// its advert timer and returns how long the client waited; it leaves the
// LAN ready for another run.
func (l *lan) failoverOnce() time.Duration {
	t := l.t
	t.Helper()
	master, backup := l.nodes[0], l.nodes[1]
	l.pair(master, backup)
	want := backup.helperTag + " "
	if backup.kind == "govs" {
		want = "rs " + backup.addr + "\n"
	}
	self, _ := os.Executable()
	ready := t.TempDir() + "/probe"
	p := l.client.Command(self)
	p.Env = append(os.Environ(), "GOVS_E2E_ROLE=probe", "GOVS_E2E_TARGET="+l.fam.url(), "GOVS_E2E_WANT="+want,
		"GOVS_E2E_READY="+ready)
	var out, errb testutil.Buffer
	p.Stdout, p.Stderr = &out, &errb
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p.Process.Kill(); _ = p.Wait() }()
	waitReady(t, ready)
	time.Sleep(time.Duration(rand.Int64N(int64(100 * time.Millisecond))))
	crashed := time.Now()
	master.crash()
	if err := waitExit(p, 35*time.Second); err != nil {
		t.Fatalf("no failover to %v: %v %s", backup, err, errb.String())
	}
	at, err := strconv.ParseInt(strings.TrimSpace(out.String()), 10, 64)
	if err != nil {
		t.Fatalf("probe said %q", out.String())
	}
	// Ready for the next run: the survivor stops, the dead router's link
	// comes back without the VIP it died holding.
	backup.signal(9)
	for _, n := range l.nodes {
		for n.running() {
			time.Sleep(5 * time.Millisecond)
		}
		_, _ = n.ns.Try(t.Context(), "ip", "addr", "del", fmt.Sprintf("%s/%d", l.fam.vip, l.fam.vipLen), "dev", "eth0")
		n.ns.Run("ip", "link", "set", "eth0", "up")
	}
	return time.Unix(0, at).Sub(crashed)
}

// waitExit waits, boundedly, for a command to exit successfully.
func waitExit(c *exec.Cmd, within time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(within):
		return fmt.Errorf("still running after %v", within)
	}
}
