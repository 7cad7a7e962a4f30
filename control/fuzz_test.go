package control

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/govs/govs/internal/fuzzcheck"
)

// fuzzRoutes are the requests FuzzServe sends its bodies with: every
// endpoint by its method, a wrong method and an unknown path.
var fuzzRoutes = [][2]string{
	{http.MethodPost, APIVersion + "realserver"},
	{http.MethodGet, APIVersion + "table"},
	{http.MethodGet, APIVersion + "conns"},
	{http.MethodGet, APIVersion + "status"},
	{http.MethodPost, APIVersion + "reload"},
	{http.MethodGet, APIVersion + "health"},
	{http.MethodPut, APIVersion + "realserver"},
	{http.MethodPost, "/v0/realserver"},
}

// unset marks the fake router's last request as not made.
var unset = RealServerRequest{Action: "\x00unset"}

// FuzzServe sends arbitrary bodies to every endpoint. No answer is a 5xx,
// every answer is JSON, every refusal says why. A real-server body reaches
// the router exactly when it is one JSON object of the request's fields,
// and then as that object says; anything else is a 400 and reaches
// nothing.
func FuzzServe(f *testing.F) {
	for i := range fuzzRoutes {
		f.Add(uint8(i), []byte(`{"action":"drain","target":"198.51.100.2:80","service":"web"}`))
	}
	for _, s := range []string{
		`{"action":"disable","target":"bad"}`,
		`{"action":"disable","target":"192.0.2.99"}`,
		`{"action":"enable","target":"198.51.100.2"} {"action":"clear"}`,
		`{"action":"enable","target":"198.51.100.2"} x`,
		`{"action":"enable","bogus":1}`,
		`{"action":1}`,
		`null`, `[]`, `"x"`, ``, `{`, "\xff",
		`{"ACTION":"drain","Target":"a"}`,
	} {
		f.Add(uint8(0), []byte(s))
	}
	fr := sample()
	srv := NewServer(fr, nil)
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		rt := fuzzRoutes[int(route)%len(fuzzRoutes)]
		fr.mu.Lock()
		fr.lastRS = unset
		fr.mu.Unlock()
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest(rt[0], rt[1], bytes.NewReader(body)))
		code := fuzzcheck.JSONAnswer(t, rec)
		fr.mu.Lock()
		got := fr.lastRS
		fr.mu.Unlock()
		if rt[1] != APIVersion+"realserver" || rt[0] != http.MethodPost {
			if got != unset {
				t.Fatalf("%s %s reached the real-server override", rt[0], rt[1])
			}
			return
		}
		want, err := strictRequest(body)
		if err != nil {
			if code != http.StatusBadRequest || got != unset {
				t.Fatalf("body %q (%v): status %d, router got %+v", body, err, code, got)
			}
			return
		}
		if got != want {
			t.Fatalf("body %q reached the router as %+v, want %+v", body, got, want)
		}
		wantCode := http.StatusOK
		switch want.Target {
		case "bad":
			wantCode = http.StatusBadRequest
		case "192.0.2.99":
			wantCode = http.StatusNotFound
		}
		if code != wantCode {
			t.Fatalf("body %q: status %d, want %d", body, code, wantCode)
		}
	})
}

// strictRequest is what a real-server body must be: one JSON value of the
// request's fields and nothing after it, within the server's 64 KiB.
func strictRequest(body []byte) (RealServerRequest, error) {
	var rr RealServerRequest
	if len(body) > 1<<16 {
		return rr, errors.New("too long")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rr); err != nil {
		return rr, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return rr, errors.New("data after the request")
	}
	return rr, nil
}

// FuzzDecodeError feeds the client arbitrary error answers: it always
// yields an error that carries the status and says something.
func FuzzDecodeError(f *testing.F) {
	f.Add(422, []byte(`{"error":"lvs.cf:3: bad"}`))
	f.Add(500, []byte(`<html>oops</html>`))
	f.Add(404, []byte(`{"error":""}`))
	f.Add(400, []byte{})
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		e := decodeError(status, body)
		if e == nil || e.StatusCode != status || e.Message == "" {
			t.Fatalf("decodeError(%d, %q) = %+v", status, body, e)
		}
	})
}
