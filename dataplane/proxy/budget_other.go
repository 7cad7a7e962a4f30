//go:build !unix

package proxy

// descriptorLimit has no system limit to read here; Windows handles are
// bounded by memory, so the budget is a size a router can carry.
func descriptorLimit() uint64 { return 1 << 16 }
