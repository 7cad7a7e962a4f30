package config

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/govs/govs/internal/fuzzcheck"
	"github.com/govs/govs/model"
)

// FuzzEdit checks, for any file Parse accepts, that Edit with no change
// gives the file back byte for byte, and that an edit of one value or one
// block gives a file that describes the edited model, in place.
func FuzzEdit(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.cf")
	for _, name := range files {
		src, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		for op := range byte(7) {
			f.Add(src, op, byte(1), byte(9))
		}
	}
	f.Add([]byte(commented), byte(2), byte(0), byte(1))
	f.Fuzz(func(t *testing.T, src []byte, op, a, b byte) {
		fuzzcheck.Within(t, parseBound, func() { checkEdit(t, src, op, a, b) })
	})
}

func checkEdit(t *testing.T, src []byte, op, a, b byte) {
	from, _, err := Parse("f.cf", src)
	if err != nil {
		return
	}
	if out, why, err := Edit(src, from, from); err != nil || why != "" || !bytes.Equal(out, src) {
		t.Fatalf("no change, yet: %v %q\n%q", err, why, out)
	}
	to, _, _ := Parse("f.cf", src)
	if !mutate(to, op, a, b) || Validate(to) != nil {
		return
	}
	out, why, err := Edit(src, from, to)
	if err != nil {
		return // to cannot be written at all
	}
	var want bytes.Buffer
	if err := Write(&want, to); err != nil {
		t.Fatal(err)
	}
	if !sameModel(out, want.Bytes()) {
		t.Fatalf("op %d: the edited file does not describe the edit:\n%s", op, out)
	}
	// Removing the last block of a file holding nothing else leaves no
	// statement, which is not a configuration: Write's text is right there.
	if why != "" && len(to.Services) > 0 {
		t.Fatalf("op %d: rewritten: %s\n%s", op, why, out)
	}
}

// mutate makes one edit of the kinds the web tool and the API make,
// reporting false if c has nothing to edit.
func mutate(c *model.Config, op, a, b byte) bool {
	if len(c.Services) == 0 {
		c.Global.SerialNo++
		return op == 5
	}
	s := &c.Services[int(a)%len(c.Services)]
	switch op % 7 {
	case 0, 1, 2:
		if len(s.RealServers) == 0 {
			return false
		}
		i := int(b) % len(s.RealServers)
		switch op % 7 {
		case 0:
			s.RealServers[i].Weight = int(b) + 1
		case 1:
			s.RealServers = slices.Delete(s.RealServers, i, i+1)
		case 2:
			rs := s.RealServers[i]
			rs.Name = fmt.Sprintf("added%d", b)
			s.RealServers = append(s.RealServers, rs)
		}
	case 3:
		i := int(a) % len(c.Services)
		c.Services = slices.Delete(c.Services, i, i+1)
	case 4:
		s.Active = !s.Active
	case 5:
		c.Global.SerialNo++
	case 6:
		s.Persistence.Timeout = (s.Persistence.Timeout/1e9 + 60) * 1e9
	}
	return true
}
