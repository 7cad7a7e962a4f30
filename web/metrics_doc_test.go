package web

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

var updateREADME = flag.Bool("update-readme", false, "rewrite README.md's metrics table from metricDefs")

// metricType is what a metric's name says it is.
func metricType(name string) string {
	switch {
	case strings.HasSuffix(name, "_total"):
		return "counter"
	case strings.HasSuffix(name, "_seconds"):
		return "histogram"
	}
	return "gauge"
}

// README.md's metrics table is the exporter's list.
func TestMetricsREADMEIsTheExportersList(t *testing.T) {
	var b strings.Builder
	b.WriteString("| metric | type | labels | meaning |\n|---|---|---|---|\n")
	for _, md := range metricDefs {
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", md.name, metricType(md.name), strings.Join(md.labels, ", "),
			strings.ReplaceAll(md.help, "|", `\|`))
	}
	doc, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	begin, end := "<!-- metrics (generated) -->\n", "<!-- end metrics -->"
	s := string(doc)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatalf("README.md has no %q section", begin)
	}
	out := s[:i+len(begin)] + b.String() + s[j:]
	switch {
	case out == s:
	case *updateREADME:
		if err := os.WriteFile("README.md", []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
	default:
		t.Error("README.md's metrics table differs from metricDefs; run go test ./web -run Metrics -update-readme")
	}
}
