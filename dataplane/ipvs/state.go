package ipvs

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/govs/govs/model"
	"github.com/govs/govs/table"
)

// DefaultStateFile is where the plane remembers which kernel services it
// installed, so that a restarted router removes the services a new
// configuration dropped and still leaves everyone else's alone. /run is
// cleared at boot, as the kernel's table is.
const DefaultStateFile = "/run/govs/ipvs-services.json"

type stateFile struct {
	// Services are the keys govs installed, as keyString writes them.
	Services []string `json:"services"`
}

// keyString writes a service key in a form that parses back exactly:
// "tcp/192.0.2.1/80", "udp/2001:db8::1/53", "fwm/4/80".
func keyString(k model.ServiceKey) string {
	if k.IsMark() {
		return fmt.Sprintf("fwm/%d/%d", k.AddrFamily(), k.FWMark)
	}
	return fmt.Sprintf("%s/%s/%d", strings.ToLower(k.Proto.String()), k.Addr, k.Port)
}

func parseKeyString(s string) (model.ServiceKey, error) {
	parts := strings.Split(s, "/")
	if len(parts) != 3 {
		return model.ServiceKey{}, fmt.Errorf("bad service key %q", s)
	}
	n, err := strconv.ParseUint(parts[2], 10, 32)
	if err != nil {
		return model.ServiceKey{}, fmt.Errorf("bad service key %q", s)
	}
	if parts[0] == "fwm" {
		fam := model.IPv4
		if parts[1] == "6" {
			fam = model.IPv6
		}
		return model.MarkKey(fam, uint32(n)), nil
	}
	proto, err := model.ParseProto(parts[0])
	if err != nil {
		return model.ServiceKey{}, err
	}
	addr, err := netip.ParseAddr(parts[1])
	if err != nil || n > 0xffff {
		return model.ServiceKey{}, fmt.Errorf("bad service key %q", s)
	}
	return model.ServiceKey{Proto: proto, Addr: addr.Unmap(), Port: uint16(n)}, nil
}

// loadState reads the owned keys; a missing file means none.
func loadState(path string) (map[model.ServiceKey]bool, error) {
	owned := map[model.ServiceKey]bool{}
	if path == "" {
		return owned, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return owned, nil
	}
	if err != nil {
		return nil, err
	}
	var st stateFile
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for _, s := range st.Services {
		k, err := parseKeyString(s)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		owned[k] = true
	}
	return owned, nil
}

// saveState writes the owned keys atomically (a crash leaves the old file
// or the new one, never half of one).
func saveState(path string, owned map[model.ServiceKey]bool) error {
	if path == "" {
		return nil
	}
	if len(owned) == 0 {
		err := os.Remove(path)
		if errors.Is(err, os.ErrNotExist) {
			err = nil
		}
		return err
	}
	keys := make([]model.ServiceKey, 0, len(owned))
	for k := range owned {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, table.CompareKeys)
	st := stateFile{Services: make([]string, len(keys))}
	for i, k := range keys {
		st.Services[i] = keyString(k)
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
