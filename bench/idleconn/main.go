// Command idleconn opens n idle TCP connections to an address, prints
// "ready" once all are established, and holds them until stdin closes.
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:80", "address to connect to")
	n := flag.Int("n", 10000, "number of connections")
	flag.Parse()
	conns := make([]net.Conn, *n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 200)
	var mu sync.Mutex
	failed := 0
	for i := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := net.DialTimeout("tcp", *addr, 5*time.Second)
			if err != nil {
				mu.Lock()
				failed++
				mu.Unlock()
				return
			}
			conns[i] = c
		}(i)
	}
	wg.Wait()
	// Give the proxy time to dial its backends for the last connections.
	time.Sleep(2 * time.Second)
	fmt.Printf("ready %d %d\n", *n-failed, failed)
	io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
}
