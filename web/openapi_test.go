package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
)

// The OpenAPI document is valid OpenAPI 3.0 by the specification's own
// schema, and its field types, which come from the keyword registry, tell
// a good request body from a bad one as the router does.
func TestOpenAPIValidates(t *testing.T) {
	e := newEnv(t)
	resp, err := http.Get(e.ts.URL + "/api/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	doc, err := libopenapi.NewDocument(body)
	if err != nil {
		t.Fatal(err)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatalf("building the validator: %v", errs)
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		for _, ve := range verrs {
			t.Errorf("document: %s: %s", ve.Message, ve.Reason)
		}
	}
	for _, tt := range []struct {
		body string
		ok   bool
	}{
		{`{"port": 8080, "active": true, "scheduler": "rr", "persistent": "300"}`, true},
		{`{"port": "http", "protocol": "udp", "check_type": "dns", "dns_type": "TYPE65"}`, true},
		{`{"protocol": "sctp"}`, false},
		{`{"port": 70000}`, false},
		{`{"active": 2}`, false},
		{`{"no_such_keyword": 1}`, false},
	} {
		req := httptest.NewRequest("PUT", "/api/v1/services/web", strings.NewReader(tt.body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+e.admin)
		ok, verrs := v.ValidateHttpRequest(req)
		if ok != tt.ok {
			t.Errorf("%s: valid %v, want %v (%v)", tt.body, ok, tt.ok, verrs)
		}
		// The router agrees.
		code, m := e.do("PUT", "/api/v1/services/web", e.admin, rawJSON(tt.body))
		if (code == http.StatusOK) != tt.ok {
			t.Errorf("%s: the router answered %d %v", tt.body, code, m)
		}
	}
}

// rawJSON is a request body sent as written.
type rawJSON string

// MarshalJSON returns the body as it is.
func (r rawJSON) MarshalJSON() ([]byte, error) { return []byte(r), nil }
