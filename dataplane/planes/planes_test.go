package planes

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Only this package reaches the plane packages by name: the router, the
// command line, the web tool and the configuration reach planes through
// dataplane.Registry and model.Capabilities. The exceptions are named:
// `govs realserver setup` uses the kernel plane's real-server helper, and
// the test planes borrow the proxy's capabilities.
func TestOnlyPlanesImportsPlanes(t *testing.T) {
	allowed := []string{"dataplane/planes/planes.go", "cli/realserver.go", "internal/planetest/planetest.go"}
	root := "../.."
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			if rel == "dataplane/proxy" || rel == "dataplane/ipvs" || strings.HasPrefix(rel, ".") && rel != "." {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if (strings.HasSuffix(p, "/dataplane/proxy") || strings.HasSuffix(p, "/dataplane/ipvs")) &&
				!slices.Contains(allowed, filepath.ToSlash(rel)) {
				t.Errorf("%s imports %s: reach planes through dataplane.Registry", rel, p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Every plane declares its capabilities and can be built; names are
// unique, and the last (auto's fallback) runs on any host.
func TestAll(t *testing.T) {
	all := All()
	seen := map[string]bool{}
	for _, reg := range all {
		if reg.Caps.Name == "" || reg.Caps.Title == "" || reg.Caps.Label == "" || reg.New == nil || seen[reg.Caps.Name] {
			t.Errorf("registration %+v", reg.Caps)
		}
		seen[reg.Caps.Name] = true
		if len(reg.Caps.Forwarding) == 0 {
			t.Errorf("%s forwards nothing", reg.Caps.Name)
		}
	}
	if fb := all.Fallback(); fb.Available != nil {
		t.Errorf("the fallback %s may not run on every host", fb.Caps.Name)
	}
}
