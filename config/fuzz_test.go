package config

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzParse checks that Parse never panics and that whatever it accepts
// survives Write unchanged: Parse(Write(Parse(x))) == Parse(x).
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.cf")
	for _, name := range files {
		src, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	for _, s := range []string{
		"",
		"primary = 10.1\n",
		"virtual a {\n address = 192.0.2.1 eth0\n fwmark = 1\n fwmark_ports = 80,443\n server b {\n  address = 10.0.0.1\n }\n}\n",
		"virtual a {\n address = 2001:db8::1 eth0\n persistent = 5\n pmask = 255.255.255.255\n sorry_server = [::1]:0\n}\n",
		"virtual \"a b\" {\n address = 192.0.2.1 'e 0'\n send = 'x\"y'\n check_body = \"^(ok|up)$\"\n}\n",
		"failover f {\n start_cmd = 'a b'\n server x {\n }\n}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		c, res, err := Parse("f.cf", src)
		if res == nil {
			t.Fatal("nil Result")
		}
		if err != nil {
			if c != nil {
				t.Fatal("model returned with errors")
			}
			return
		}
		var b bytes.Buffer
		if err := Write(&b, c); err != nil {
			t.Fatalf("Write of a parsed model: %v", err)
		}
		c2, _, err := Parse("w.cf", b.Bytes())
		if err != nil {
			t.Fatalf("Parse(Write(c)): %v\n%s", err, b.String())
		}
		if !reflect.DeepEqual(c, c2) {
			t.Fatalf("round trip changed the model:\n got %+v\nwant %+v\n%s", c2, c, b.String())
		}
		var b2 bytes.Buffer
		if err := Write(&b2, c2); err != nil || !bytes.Equal(b.Bytes(), b2.Bytes()) {
			t.Fatalf("Write is not canonical (%v):\n%s\n---\n%s", err, b.String(), b2.String())
		}
		if err := Validate(c); err != nil {
			t.Fatalf("Validate rejects a parsed model: %v", err)
		}
	})
}
