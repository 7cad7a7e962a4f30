package config

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/govs/govs/internal/fuzzcheck"
	"github.com/govs/govs/model"
)

// parseBound is far more than any lvs.cf takes to parse; an input that
// needs it has found a loop or a quadratic path.
const parseBound = 10 * time.Second

// FuzzParse checks that Parse never panics or hangs and that whatever it
// accepts survives Write unchanged: Parse(Write(Parse(x))) == Parse(x).
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
		fuzzcheck.Within(t, parseBound, func() { checkParsed(t, src) })
	})
}

func checkParsed(t *testing.T, src []byte) {
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
}

// writeBase is the model FuzzWrite puts its strings into.
const writeBase = `serial_no = 3
primary = 192.0.2.1
service = lvs

virtual web {
    active = 1
    address = 192.0.2.100 eth0
    port = 80
    server a {
        address = 198.51.100.1
        active = 1
    }
}
`

// FuzzWrite starts from the other end: a model holding strings no parser
// produced, as the web tool builds from form fields. Whatever Validate
// passes and Write writes must parse back to the same model; otherwise a
// saved edit would run as something other than what was asked.
func FuzzWrite(f *testing.F) {
	for _, s := range [][5]string{
		{"web", "eth0", "GET / HTTP/1.0\\r\\n\\r\\n", "HTTP", "a"},
		{"a b", "eth 0", `say "hi"`, "it's", "b c"},
		{"{", "=", "#x", `'`, "}"},
		{`x'y"z`, `"`, `a'b"c`, "#", "="},
		{"", "", "", "", ""},
		{"virtual", "server", "}", "{", "#"},
	} {
		f.Add(s[0], s[1], s[2], s[3], s[4], uint8(0))
	}
	base, _, err := Parse("base.cf", []byte(writeBase))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, name, dev, send, expect, server string, global uint8) {
		fuzzcheck.Within(t, parseBound, func() { checkWritten(t, base, name, dev, send, expect, server, global) })
	})
}

func checkWritten(t *testing.T, base *model.Config, name, dev, send, expect, server string, global uint8) {
	c, _, err := Parse("base.cf", []byte(writeBase))
	if err != nil || !reflect.DeepEqual(c, base) {
		t.Fatalf("base model: %v", err)
	}
	svc := &c.Services[0]
	svc.Name, svc.Device, svc.Check.Send, svc.Check.Expect = name, dev, send, expect
	svc.RealServers[0].Name = server
	// One global string field takes the server name too, so that the
	// global writer sees the same values.
	switch global % 4 {
	case 1:
		c.Global.ActiveCmd = server
	case 2:
		c.Global.SyncdIface = server
	case 3:
		c.Global.VRRPInterface = server
	}
	if Validate(c) != nil {
		return
	}
	var b bytes.Buffer
	if err := Write(&b, c); err != nil {
		t.Fatalf("Validate passed a model Write refuses: %v", err)
	}
	c2, _, err := Parse("w.cf", b.Bytes())
	if err != nil {
		t.Fatalf("Parse(Write(c)): %v\n%s", err, b.String())
	}
	if !reflect.DeepEqual(c, c2) {
		t.Fatalf("round trip changed the model:\n got %+v\nwant %+v\n%s", c2, c, b.String())
	}
}
