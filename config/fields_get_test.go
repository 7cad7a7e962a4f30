package config

import (
	"reflect"
	"strconv"
	"testing"

	"github.com/govs/govs/model"
)

// sample is a value of k other than its default that Set accepts.
func sample(k Keyword) []string {
	special := map[string][]string{
		"fwmark_ports": {"80,443"}, "scheduler_flags": {"sh-port"}, "sorry_server": {"192.0.2.9:8080"},
		"vrrp_unicast_peers": {"192.0.2.1,192.0.2.2"}, "http_listen": {"127.0.0.1:3636"},
		"check_path": {"/x"}, "check_status": {"200-299"}, "check_port": {"8443"}, "agent_port": {"7777"},
		"service": {"lvs"}, "nat_router": {"192.0.2.1", "eth1:1"}, "address": {"192.0.2.7", "eth9"},
		"syncd_id": {"7"}, "reentry": {"60"}, "timeout": {"6"}, "weight": {"5"}, "port": {"8080"},
		"keepalive": {"3"}, "deadtime": {"9"}, "vrrp_advert_ms": {"250"}, "heartbeat_port": {"540"},
		"scheduler": {"rr"}, "protocol": {"udp"}, "network": {"direct"}, "tunnel_type": {"gue"}, "load_monitor": {"uptime"}, "dataplane": {"proxy"},
	}
	if v, ok := special[k.Name]; ok && !(k.Scope == ScopeServer && k.Name == "address") {
		return v
	}
	switch k.Kind {
	case KindBool:
		if k.Name == "hard_shutdown" {
			return []string{"0"}
		}
		return []string{"1"}
	case KindEnum:
		return []string{k.Choices[len(k.Choices)-1]}
	case KindInt, KindSeconds, KindPort:
		return []string{strconv.FormatInt(min(max(k.Min, 0)+3, k.Max), 10)}
	case KindAddress:
		return []string{"192.0.2.7"}
	case KindMask:
		return []string{"255.255.255.0"}
	}
	return []string{"x"}
}

// holder is a default object of a keyword's scope, with Get, Set and
// Reset on it, and the object itself to compare.
type holder struct {
	g     model.Global
	s     model.Service
	r     model.RealServer
	scope string
}

func newHolder(scope string) *holder {
	h := &holder{g: model.DefaultGlobal(), s: model.DefaultService("v"), r: model.DefaultRealServer("r"), scope: scope}
	h.r.Port = h.s.DefaultServerPort()
	return h
}

func (h *holder) set(key string, v ...string) error {
	var err error
	switch h.scope {
	case ScopeGlobal:
		_, err = SetGlobal(&h.g, key, v...)
	case ScopeVirtual:
		_, err = SetService(&h.s, key, v...)
	default:
		_, err = SetServer(&h.s, &h.r, key, v...)
	}
	return err
}

func (h *holder) get(key string) ([]string, error) {
	switch h.scope {
	case ScopeGlobal:
		return GetGlobal(&h.g, key)
	case ScopeVirtual:
		return GetService(&h.s, key)
	}
	return GetServer(&h.s, &h.r, key)
}

func (h *holder) reset(key string) error {
	switch h.scope {
	case ScopeGlobal:
		return ResetGlobal(&h.g, key)
	case ScopeVirtual:
		return ResetService(&h.s, key)
	}
	return ResetServer(&h.s, &h.r, key)
}

// Every keyword reads back what it was set to, in words Set takes again,
// and a reset gives it what an empty block gives: the three ways a form
// touches a keyword.
func TestGetSetReset(t *testing.T) {
	n := 0
	for _, k := range Keywords() {
		if k.Ignored != "" && k.Default == "—" {
			continue // accepted, never kept
		}
		h := newHolder(k.Scope)
		v := sample(k)
		if err := h.set(k.Name, v...); err != nil {
			t.Errorf("%s %s = %v: %v", k.Scope, k.Name, v, err)
			continue
		}
		if reflect.DeepEqual(h, newHolder(k.Scope)) && k.Name != "service" {
			t.Errorf("%s %s = %v changed nothing", k.Scope, k.Name, v)
		}
		got, err := h.get(k.Name)
		if err != nil || got == nil {
			t.Errorf("%s %s: Get = %v, %v after setting %v", k.Scope, k.Name, got, err, v)
			continue
		}
		again := newHolder(k.Scope)
		if err := again.set(k.Name, got...); err != nil || !reflect.DeepEqual(again, h) {
			t.Errorf("%s %s: setting what Get gave (%v) gives %+v, want %+v (%v)", k.Scope, k.Name, got, again, h, err)
		}
		if err := h.reset(k.Name); err != nil || !reflect.DeepEqual(h, newHolder(k.Scope)) {
			t.Errorf("%s %s: after a reset %+v, want the default (%v)", k.Scope, k.Name, h, err)
		}
		n++
	}
	if n < 80 {
		t.Errorf("only %d keywords checked", n)
	}
	if _, err := GetService(&model.Service{}, "nosuch"); err == nil {
		t.Error("Get of an unknown keyword gave no error")
	}
	if err := ResetServer(&model.Service{}, &model.RealServer{}, "nosuch"); err == nil {
		t.Error("Reset of an unknown keyword gave no error")
	}
}
