//go:build !linux

package proxy

import "net/netip"

// loopFlow exists on Linux only, where the event loops serve UDP flows;
// elsewhere every flow has a goroutine reading its replies.
type loopFlow struct{}

func (*listener) dialLoop(_, _ netip.AddrPort, _ int64) *udpFlow { return nil }
func (*udpFlow) startLoop()                                      {}
func (*udpFlow) writeLoop([]byte) bool                           { return false }
func (*udpFlow) endLoop()                                        {}
func (*udpFlow) closeRawFlow()                                   {}
