//go:build linux

package e2e

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/govs/govs/internal/netnstest"
	"golang.org/x/sys/unix"
)

// mmsghdr is struct mmsghdr, for sendmmsg.
type mmsghdr struct {
	hdr syscall.Msghdr
	n   uint32
	_   [4]byte
}

// synflood sends TCP SYNs to GOVS_E2E_TARGET (ADDR:PORT) from random
// addresses of GOVS_E2E_SOURCE (a /24) and random ports, as fast as it
// can for GOVS_E2E_DURATION, through raw sockets, and prints how many it
// sent. Nothing answers from those addresses: the router's SYN-ACKs go
// nowhere, as in a spoofed flood.
func synflood() int {
	target, err := netip.ParseAddrPort(os.Getenv("GOVS_E2E_TARGET"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	src, err := netip.ParsePrefix(os.Getenv("GOVS_E2E_SOURCE"))
	if err != nil || !src.Addr().Is4() || src.Bits() != 24 {
		fmt.Fprintln(os.Stderr, "GOVS_E2E_SOURCE: want an IPv4 /24")
		return 2
	}
	dur, err := time.ParseDuration(os.Getenv("GOVS_E2E_DURATION"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	// One sender per CPU.
	senders := runtime.NumCPU()
	type result struct{ sent, failed int }
	results := make(chan result, senders)
	dst := target.Addr().As4()
	end := time.Now().Add(dur)
	for range senders {
		go func() {
			var r result
			defer func() { results <- r }()
			fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_RAW, syscall.IPPROTO_RAW)
			if err != nil {
				fmt.Fprintln(os.Stderr, "raw socket:", err)
				return
			}
			defer syscall.Close(fd)
			// Batches of 64 packets per sendmmsg: the per-call cost, not
			// the packet's, otherwise bounds the rate.
			const batch = 64
			to := syscall.RawSockaddrInet4{Family: syscall.AF_INET, Addr: dst}
			pkts := make([]byte, 40*batch)
			iovs := make([]syscall.Iovec, batch)
			msgs := make([]mmsghdr, batch)
			for j := range batch {
				iovs[j].Base = &pkts[40*j]
				iovs[j].SetLen(40)
				msgs[j].hdr.Name = (*byte)(unsafe.Pointer(&to))
				msgs[j].hdr.Namelen = syscall.SizeofSockaddrInet4
				msgs[j].hdr.Iov = &iovs[j]
				msgs[j].hdr.Iovlen = 1
			}
			rnd := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
			for i := 0; ; i++ {
				if i&15 == 0 && time.Now().After(end) {
					return
				}
				for j := range batch {
					s := src.Addr().As4()
					s[3] = byte(2 + rnd.IntN(250))
					synPacket(pkts[40*j:40*j+40], s, dst, uint16(1024+rnd.IntN(60000)), target.Port(), rnd.Uint32())
				}
				n, _, e := syscall.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&msgs[0])), batch, 0, 0, 0)
				if e != 0 {
					r.failed += batch
					continue
				}
				r.sent += int(n)
				r.failed += batch - int(n)
			}
		}()
	}
	sent, failed := 0, 0
	for range senders {
		r := <-results
		sent += r.sent
		failed += r.failed
	}
	fmt.Printf("%d %d\n", sent, failed)
	return 0
}

// synPacket writes an IPv4 header and a TCP SYN into b (40 bytes).
func synPacket(b []byte, src, dst [4]byte, sport, dport uint16, seq uint32) {
	clear(b)
	b[0] = 0x45
	binary.BigEndian.PutUint16(b[2:], 40)
	b[8] = 64
	b[9] = syscall.IPPROTO_TCP
	copy(b[12:16], src[:])
	copy(b[16:20], dst[:])
	binary.BigEndian.PutUint16(b[10:], checksum(b[:20], 0))
	t := b[20:]
	binary.BigEndian.PutUint16(t[0:], sport)
	binary.BigEndian.PutUint16(t[2:], dport)
	binary.BigEndian.PutUint32(t[4:], seq)
	t[12] = 5 << 4
	t[13] = 0x02 // SYN
	binary.BigEndian.PutUint16(t[14:], 65535)
	// The pseudo-header: addresses, protocol, length.
	var ph uint32
	for i := 0; i < 4; i += 2 {
		ph += uint32(binary.BigEndian.Uint16(src[i:])) + uint32(binary.BigEndian.Uint16(dst[i:]))
	}
	ph += syscall.IPPROTO_TCP + 20
	binary.BigEndian.PutUint16(t[16:], checksum(t[:20], ph))
}

func checksum(b []byte, sum uint32) uint16 {
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// A SYN flood from a spoofed /24 and a flood of real connections from
// many clients, at once, against a router in a network namespace: its
// control socket and health checks keep answering, an established
// connection is not disturbed, and clients that complete their handshake
// are served.
func TestSYNFlood(t *testing.T) {
	netnstest.Require(t)
	client := netnstest.New(t, "client")
	rtr := netnstest.New(t, "router")
	netnstest.Veth(t, client, "c0", rtr, "r0")
	client.Addr("c0", "203.0.113.2/24")
	client.Run("ip", "route", "add", "default", "via", "203.0.113.1")
	// The real clients' addresses: routed to the client namespace's
	// loopback, taken with IP_FREEBIND.
	client.Run("ip", "route", "add", "local", "192.0.2.0/24", "dev", "lo")
	rtr.Addr("r0", "203.0.113.1/24")
	rtr.Addr("r0", "203.0.113.100/32")
	rtr.Run("ip", "route", "add", "192.0.2.0/24", "via", "203.0.113.2")
	// The flood's sources: the router answers them towards the client
	// namespace, which is no router and drops the SYN-ACKs.
	rtr.Run("ip", "route", "add", "198.51.100.0/24", "via", "203.0.113.2")

	readyDir := t.TempDir()
	self, _ := os.Executable()
	var ready []string
	for i, name := range []string{"rs1", "rs2"} {
		f := filepath.Join(readyDir, name)
		ready = append(ready, f)
		rtr.Start([]string{"GOVS_E2E_ROLE=http", "GOVS_E2E_NAME=" + name, "GOVS_E2E_READY=" + f,
			fmt.Sprintf("GOVS_E2E_LISTEN=127.0.0.%d:8080", 11+i)}, self)
	}
	waitReady(t, ready...)
	dir := t.TempDir()
	token := passwd(t, filepath.Join(dir, "users"), "flood-pass-1", "-u", "admin", "--token")
	cfgPath := filepath.Join(dir, "lvs.cf")
	writeFile(t, cfgPath, `primary = 203.0.113.1
service = lvs
http_listen = 127.0.0.1:18888
http_users = users

virtual web {
    active = 1
    address = 203.0.113.100 r0
    port = 80
    scheduler = wlc
    timeout = 1
    server rs1 {
        address = 127.0.0.11
        port = 8080
        active = 1
    }
    server rs2 {
        address = 127.0.0.12
        port = 8080
        active = 1
    }
}
`)
	r := startRouter(t, []string{"ip", "netns", "exec", rtr.Name}, cfgPath)

	// An established connection streaming through the whole flood.
	stream := client.Command("curl", "-sS", "--max-time", "30", "http://203.0.113.100/stream?n=80")
	var streamOut strings.Builder
	stream.Stdout, stream.Stderr = &streamOut, &streamOut
	if err := stream.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = stream.Process.Kill(); _, _ = stream.Process.Wait() }()

	// The floods: SYNs, and real clients from 250 addresses.
	flood := client.Command(self)
	flood.Env = append(os.Environ(), "GOVS_E2E_ROLE=synflood", "GOVS_E2E_TARGET=203.0.113.100:80",
		"GOVS_E2E_SOURCE=198.51.100.0/24", "GOVS_E2E_DURATION=5s")
	var floodOut strings.Builder
	flood.Stdout, flood.Stderr = &floodOut, &floodOut
	real := client.Command(self)
	real.Env = append(os.Environ(), "GOVS_E2E_ROLE=clients", "GOVS_E2E_TARGET=http://203.0.113.100/",
		"GOVS_E2E_LOOP=1", "GOVS_E2E_PARALLEL=64")
	realIn, _ := real.StdinPipe()
	realOut, _ := real.StdoutPipe()
	for i := range 250 {
		fmt.Fprintf(realIn, "192.0.2.%d\n", 2+i)
	}
	fmt.Fprintln(realIn)
	if err := real.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = real.Process.Kill(); _, _ = real.Process.Wait() }()
	start := time.Now()
	if err := flood.Start(); err != nil {
		t.Fatal(err)
	}
	// During the flood the control socket and the web tool's API answer,
	// each within a second.
	statusOK, webOK := 0, 0
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for time.Since(start) < 4*time.Second {
		if _, _, code := govs(t, "status", "--socket", r.socket); code == 0 {
			statusOK++
		}
		out, err := rtr.Try(ctx, "curl", "-sS", "--max-time", "1", "-H", "Authorization: Bearer "+token,
			"http://127.0.0.1:18888/api/v1/status")
		if err == nil && strings.Contains(out, `"dataplane": "proxy"`) {
			webOK++
		}
		time.Sleep(250 * time.Millisecond)
	}
	if err := flood.Wait(); err != nil {
		t.Fatalf("synflood: %v\n%s", err, floodOut.String())
	}
	fmt.Fprintln(realIn, "stop")
	realIn.Close()
	var ok, failed int
	sc := bufio.NewScanner(realOut)
	for sc.Scan() {
		fmt.Sscan(sc.Text(), &ok, &failed)
	}
	_ = real.Wait()
	var sent, sendErrs int
	fmt.Sscan(floodOut.String(), &sent, &sendErrs)
	t.Logf("SYN flood: %d SYNs in 5 s (%d/s), %d send errors; real clients: %d served, %d failed; status answered %d times, the web API %d",
		sent, sent/5, sendErrs, ok, failed, statusOK, webOK)
	if statusOK == 0 || webOK == 0 {
		t.Errorf("during the flood the control socket answered %d times and the web API %d", statusOK, webOK)
	}
	if ok == 0 || failed > ok/20 {
		t.Errorf("real clients during the flood: %d served, %d failed", ok, failed)
	}
	// The established connection got every line.
	if err := stream.Wait(); err != nil || strings.Count(streamOut.String(), " line ") != 80 {
		t.Errorf("the established connection was disturbed: %v, %d of 80 lines", err, strings.Count(streamOut.String(), " line "))
	}
	// Health checks ran through the flood and found both servers up.
	out, _, code := govs(t, "list", "-n", "--socket", r.socket)
	if code != 0 || strings.Count(out, " up") != 2 {
		t.Errorf("after the flood:\n%s", out)
	}
	if log := r.log.String(); strings.Contains(log, `to=down`) {
		t.Errorf("a real server was marked down during the flood:\n%s", log)
	}
	// The flood reached the router's kernel, which answered it with SYN
	// cookies rather than a queue govs would have to drain.
	cookies := 0
	for _, line := range strings.Split(rtr.Run("nstat", "-az", "TcpExtSyncookiesSent"), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "TcpExtSyncookiesSent" {
			fmt.Sscan(f[1], &cookies)
		}
	}
	if cookies == 0 {
		t.Errorf("the router sent no SYN cookies: the flood did not reach it")
	}
	t.Logf("the router's kernel sent %d SYN cookies", cookies)
}
