package config

import (
	"strconv"
	"testing"

	"github.com/govs/govs/model"
)

// set applies one keyword to a default object of its scope.
func set(k Keyword, values ...string) error {
	var err error
	switch k.Scope {
	case ScopeGlobal:
		g := model.DefaultGlobal()
		_, err = SetGlobal(&g, k.Name, values...)
	case ScopeVirtual:
		s := model.DefaultService("v")
		_, err = SetService(&s, k.Name, values...)
	default:
		s := model.DefaultService("v")
		r := model.DefaultRealServer("r")
		_, err = SetServer(&s, &r, k.Name, values...)
	}
	return err
}

// What the registry says of a keyword's value is what the parser does
// with it: every choice of an enum is accepted, a boolean takes 0 and 1
// and nothing else, a number its bounds and not one past them.
func TestRegistryMatchesTheParser(t *testing.T) {
	ks := Keywords()
	if len(ks) < 80 {
		t.Fatalf("%d keywords", len(ks))
	}
	for _, k := range ks {
		if k.Kind == "" {
			t.Errorf("%s %s has no kind", k.Scope, k.Name)
			continue
		}
		if k.Ignored != "" || k.Values != 1 {
			continue
		}
		switch k.Kind {
		case KindEnum:
			if len(k.Choices) == 0 {
				t.Errorf("%s %s: an enum without choices", k.Scope, k.Name)
			}
			for _, c := range k.Choices {
				if err := set(k, c); err != nil && !(k.Name == "service" && c == "fos") {
					t.Errorf("%s %s = %s: %v", k.Scope, k.Name, c, err)
				}
			}
			if k.Name != "load_monitor" && set(k, "no-such-choice") == nil {
				t.Errorf("%s %s took a value outside its choices", k.Scope, k.Name)
			}
		case KindBool:
			if set(k, "0") != nil || set(k, "1") != nil || set(k, "2") == nil {
				t.Errorf("%s %s is no 0/1 boolean", k.Scope, k.Name)
			}
		case KindInt, KindSeconds, KindPort:
			if k.Max < k.Min {
				t.Errorf("%s %s: bounds %d..%d", k.Scope, k.Name, k.Min, k.Max)
			}
			lo, hi := strconv.FormatInt(k.Min, 10), strconv.FormatInt(k.Max, 10)
			if err := set(k, hi); err != nil {
				t.Errorf("%s %s = %s (its max): %v", k.Scope, k.Name, hi, err)
			}
			if err := set(k, lo); err != nil && k.Min > -1<<31 {
				t.Errorf("%s %s = %s (its min): %v", k.Scope, k.Name, lo, err)
			}
			if k.Max < 1<<31-1 && set(k, strconv.FormatInt(k.Max+1, 10)) == nil {
				t.Errorf("%s %s took %d, past its max", k.Scope, k.Name, k.Max+1)
			}
		}
	}
	if k, ok := KeywordOf(ScopeVirtual, "scheduler"); !ok || len(k.Choices) != len(model.Schedulers) {
		t.Errorf("scheduler: %+v", k)
	}
	if k, ok := KeywordOf(ScopeVirtual, "check_type"); !ok || !k.Check || k.Kind != KindEnum {
		t.Errorf("check_type: %+v", k)
	}
}
