package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/netip"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/govs/govs/config"
	"github.com/govs/govs/dataplane"
	"github.com/govs/govs/dataplane/proxy"
	"github.com/govs/govs/internal/fuzzcheck"
	"github.com/govs/govs/internal/planetest"
	"github.com/govs/govs/model"
	"github.com/govs/govs/table"
)

// fuzzWrites are the write endpoints that take a body, as method, path
// and the kind of fields the body holds; the last names no service.
var fuzzWrites = []struct{ method, path, kind string }{
	{"PUT", "/api/v1/global", "global"},
	{"POST", "/api/v1/services", "service"},
	{"PUT", "/api/v1/services/web", "service"},
	{"POST", "/api/v1/services/web/servers", "server"},
	{"PUT", "/api/v1/services/web/servers/web1", "server"},
	{"PUT", "/api/v1/services/nosuch", "service"},
}

// FuzzAPIWrite sends arbitrary bodies to the write endpoints of a real
// router (on a plane that binds nothing). No answer is a 5xx, every answer
// is JSON, and every refusal says why. A refused request leaves lvs.cf,
// its history and the running configuration as they were. An accepted one
// was exactly one JSON object; it wrote a file that parses to what runs,
// with the next serial; the strings it set run as sent; and what the
// tool shows of the result, sent back, changes nothing.
func FuzzAPIWrite(f *testing.F) {
	for i := range fuzzWrites {
		f.Add(uint8(i), []byte(`{"name":"x","address":"127.0.0.1","weight":2,"active":true}`))
		f.Add(uint8(i), []byte(`{}`))
	}
	// Bodies each endpoint takes, so that the engine starts from
	// accepted edits too.
	for i, s := range []string{
		`{"tcp_timeout":600,"primary":"127.0.0.1","network":"nat"}`,
		`{"name":"x","address":"127.0.0.1","device":"lo","port":8081,"send":"a'b\"c","expect":"#"}`,
		`{"send":"GET / HTTP/1.0\\r\\n\\r\\n","expect":"it's","device":"lo:1","scheduler":"wrr"}`,
		`{"name":"b","address":"127.0.0.1","port":9,"weight":2,"active":1}`,
		`{"weight":0,"port":"","network":"default","uthreshold":5}`,
	} {
		f.Add(uint8(i), []byte(s))
	}
	for _, s := range []string{
		`{"name":"x","address":"127.0.0.1","send":"a'b\"c","expect":"#","device":"lo"}`,
		`{"name":"a b","address":"127.0.0.1","send":"it's \"x\"","device":"=","port":0}`,
		`{"name":"x","address":"127.0.0.1"} {"name":"y"}`,
		`{"name":"x","address":"127.0.0.1","fwmark":7,"fwmark_ports":"1-65535","persistent":60,"pmask":"255.255.0.0"}`,
		`{"scheduler":"wrr","check_type":"http","check_body":"(","timeout":"9"}`,
		`{"tcp_timeout":600,"vrrp_unicast_peers":"127.0.0.2, ::1","backup_active":true}`,
		`{"name":null,"active":[1]}`, `null`, `[]`, `{`, `{"x":{}}`,
	} {
		for i := range 5 {
			f.Add(uint8(i), []byte(s))
		}
	}
	e := newEnvPlane(f, "", func(string, *table.Table, *slog.Logger) (dataplane.Plane, error) {
		return planetest.Null{}, nil
	})
	orig, err := os.ReadFile(e.cfg)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		w := fuzzWrites[int(which)%len(fuzzWrites)]
		if !harmless(w.kind, body) {
			t.Skip("would run a program or check a server off loopback")
		}
		before := e.r.Config()
		hist := historyOf(t, e.cfg)
		req := httptest.NewRequest(w.method, w.path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+e.admin)
		rec := httptest.NewRecorder()
		e.s.ServeHTTP(rec, req)
		code := fuzzcheck.JSONAnswer(t, rec)
		after, err := os.ReadFile(e.cfg)
		if err != nil {
			t.Fatal(err)
		}
		if code >= 300 {
			if !bytes.Equal(after, orig) || !reflect.DeepEqual(e.r.Config(), before) || historyOf(t, e.cfg) != hist {
				t.Fatalf("refused with %d (%s) yet something changed", code, rec.Body.Bytes())
			}
			return
		}
		// The next input starts from the same configuration, whatever
		// this one finds.
		defer func() {
			if err := os.WriteFile(e.cfg, orig, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := e.r.Reload(context.Background()); err != nil {
				t.Fatalf("restoring the configuration: %v", err)
			}
		}()
		checkAccepted(t, e, w.kind, body, before, after)
	})
}

// harmless reports whether applying body cannot reach beyond the test:
// send_program runs a program, and a real server's address is where its
// health checks connect.
func harmless(kind string, body []byte) bool {
	fl, err := readFields(httptest.NewRequest("POST", "/", bytes.NewReader(body)))
	if err != nil {
		return true
	}
	if strings.TrimSpace(fl["send_program"]) != "" {
		return false
	}
	if a, err := netip.ParseAddr(strings.TrimSpace(fl["address"])); kind == "server" && err == nil && !a.Unmap().IsLoopback() {
		return false
	}
	return true
}

func historyOf(t *testing.T, cfg string) string {
	ents, err := os.ReadDir(config.HistoryDir(cfg))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var names []string
	for _, d := range ents {
		names = append(names, d.Name())
	}
	return strings.Join(names, ",")
}

// checkAccepted checks an edit the API answered with 2xx.
func checkAccepted(t *testing.T, e *env, kind string, body []byte, before *model.Config, file []byte) {
	t.Helper()
	if !oneObject(body) {
		t.Fatalf("accepted %q, which is not one JSON object", body)
	}
	running := e.r.Config()
	parsed, _, err := config.ParseForPlane(e.cfg, file, proxy.Capabilities)
	if err != nil {
		t.Fatalf("the written lvs.cf does not parse: %v\n%s", err, file)
	}
	if !reflect.DeepEqual(parsed, running) {
		t.Fatalf("the written lvs.cf is not what runs:\n%s", file)
	}
	if running.Global.SerialNo != before.Global.SerialNo+1 {
		t.Fatalf("serial_no %d after %d", running.Global.SerialNo, before.Global.SerialNo)
	}
	fl, err := readFields(httptest.NewRequest("POST", "/", bytes.NewReader(body)))
	if err != nil {
		t.Fatal(err)
	}
	c := running.Clone()
	switch kind {
	case "global":
		if errs := EditGlobal(&c.Global, GlobalFields(&c.Global)); len(errs) > 0 || !reflect.DeepEqual(c, running) {
			t.Fatalf("the global settings shown do not edit back to themselves: %v", errs)
		}
	case "service":
		i := len(c.Services) - 1
		if n, ok := fl["name"]; ok {
			i, _ = findService(c, strings.TrimSpace(n))
		} else if _, err := findService(c, "web"); err == nil {
			i, _ = findService(c, "web")
		}
		if i < 0 {
			t.Fatal("the edited virtual server is gone")
		}
		svc := &c.Services[i]
		for key, got := range map[string]string{"send": svc.Check.Send, "expect": svc.Check.Expect, "device": svc.Device} {
			if v, ok := fl[key]; ok && v != got {
				t.Fatalf("%s sent as %q runs as %q", key, v, got)
			}
		}
		if errs := EditService(svc, ServiceFields(svc)); len(errs) > 0 || !reflect.DeepEqual(c, running) {
			t.Fatalf("virtual server %q as shown does not edit back to itself: %v", svc.Name, errs)
		}
	case "server":
		svc := &c.Services[0]
		for j := range svc.RealServers {
			if errs := EditServer(svc, &svc.RealServers[j], ServerFields(svc, &svc.RealServers[j])); len(errs) > 0 {
				t.Fatalf("real server %q as shown does not edit back: %v", svc.RealServers[j].Name, errs)
			}
		}
		if !reflect.DeepEqual(c, running) {
			t.Fatal("the real servers as shown do not edit back to themselves")
		}
	}
}

// oneObject reports whether body is a single JSON object and nothing more.
func oneObject(body []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(body))
	var m map[string]json.RawMessage
	if err := dec.Decode(&m); err != nil || m == nil {
		return false
	}
	_, err := dec.Token()
	return err == io.EOF
}
