package model

import (
	"encoding/json"
	"testing"
	"time"
)

func TestSecondsJSON(t *testing.T) {
	v := struct {
		D Seconds `json:"d_seconds"`
	}{Seconds(1500 * time.Millisecond)}
	b, err := json.Marshal(v)
	if err != nil || string(b) != `{"d_seconds":1.5}` {
		t.Fatalf("%s %v", b, err)
	}
	v.D = 0
	if err := json.Unmarshal([]byte(`{"d_seconds":0.25}`), &v); err != nil || v.D.Duration() != 250*time.Millisecond {
		t.Fatalf("%v %v", v.D.Duration(), err)
	}
	if err := json.Unmarshal([]byte(`{"d_seconds":"1s"}`), &v); err == nil {
		t.Fatal("a string read as seconds")
	}
}
