package suggest

import "testing"

func TestClosest(t *testing.T) {
	words := []string{"scheduler", "scheduler_flags", "persistent", "port", "protocol", "list", "reload", "stats", "rate"}
	for _, c := range []struct {
		in, want string
		ok       bool
	}{
		{"shceduler", "scheduler", true}, // a swap is one edit
		{"schedular", "scheduler", true},
		{"persistant", "persistent", true},
		{"prot", "port", true},
		{"lsit", "list", true},
		{"relaod", "reload", true},
		{"stat", "stats", true},
		{"sched", "", false}, // a prefix of two: no guess
		{"proto", "protocol", true},
		{"weight", "", false},
		{"xyz", "", false},
		{"rate", "rate", true},
		{"x", "", false}, // one letter is one edit from any other
		{"ls", "", false},
	} {
		got, ok := Closest(c.in, words)
		if got != c.want || ok != c.ok {
			t.Errorf("Closest(%q) = %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
		}
	}
	if h := Hint("lsit", words); h != ` (did you mean "list"?)` {
		t.Errorf("Hint = %q", h)
	}
	if h := Hint("list", words); h != "" {
		t.Errorf("Hint of a known word = %q", h)
	}
}
