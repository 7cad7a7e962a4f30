package dataplane

import (
	"strings"
	"testing"

	"github.com/govs/govs/model"
)

func fakeRegistry(kernel bool) Registry {
	return Registry{
		{Caps: model.Capabilities{Name: "kern", Needs: "a kernel module"},
			Available: func() (bool, string) { return kernel, "no module" }},
		{Caps: model.Capabilities{Name: "user"}},
	}
}

// auto takes the first plane the host can run and says why it passed the
// others over; a named plane must be able to run; an unknown name lists
// the known ones.
func TestRegistryChoose(t *testing.T) {
	for _, name := range []string{"", "auto"} {
		reg, why, err := fakeRegistry(false).Choose(name)
		if err != nil || reg.Caps.Name != "user" || why != "kern: no module" {
			t.Errorf("auto without the module: %q %q %v", reg.Caps.Name, why, err)
		}
		if reg, _, err := fakeRegistry(true).Choose(name); err != nil || reg.Caps.Name != "kern" {
			t.Errorf("auto with the module: %q %v", reg.Caps.Name, err)
		}
	}
	if _, _, err := fakeRegistry(false).Choose("kern"); err == nil || err.Error() != "dataplane = kern: no module" {
		t.Errorf("kern without the module: %v", err)
	}
	if _, _, err := fakeRegistry(true).Choose("xdp"); err == nil || !strings.Contains(err.Error(), "want kern, user or auto") {
		t.Errorf("unknown plane: %v", err)
	}
	none := Registry{{Caps: model.Capabilities{Name: "kern"}, Available: func() (bool, string) { return false, "no module" }}}
	if _, _, err := none.Choose("auto"); err == nil || !strings.Contains(err.Error(), "kern: no module") {
		t.Errorf("no plane at all: %v", err)
	}
}

// A file is checked against the plane it names, or for auto against the
// fallback, with what the others need.
func TestRegistryForFile(t *testing.T) {
	r := fakeRegistry(false)
	if caps, note, ok := r.ForFile("kern"); !ok || caps.Name != "kern" || note != "" {
		t.Errorf("kern: %q %q %v", caps.Name, note, ok)
	}
	if caps, note, ok := r.ForFile("auto"); !ok || caps.Name != "user" ||
		note != "with dataplane = auto, govs run needs a kernel module for it" {
		t.Errorf("auto: %q %q %v", caps.Name, note, ok)
	}
	if _, _, ok := r.ForFile("xdp"); ok {
		t.Error("an unknown plane has capabilities")
	}
}
