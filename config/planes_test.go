package config

import (
	"testing"

	"github.com/govs/govs/dataplane/planes"
	"github.com/govs/govs/model"
)

// parseChecked parses src as govs check does: held, as warnings, to the
// plane the file names (for auto, the one it falls back to).
func parseChecked(name string, src []byte) (*model.Config, *Result, error) {
	c, _, err := Parse(name, src)
	if err != nil {
		return Parse(name, src)
	}
	caps, note, ok := planes.All().ForFile(c.Global.Dataplane)
	if !ok {
		return Parse(name, src)
	}
	return ParseWith(name, src, &PlaneCheck{Caps: caps, Note: note})
}

// capsOf returns a plane's capabilities by name.
func capsOf(t *testing.T, name string) model.Capabilities {
	t.Helper()
	caps, _, ok := planes.All().ForFile(name)
	if !ok {
		t.Fatalf("no plane %q", name)
	}
	return caps
}
