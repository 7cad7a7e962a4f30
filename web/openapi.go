package web

import (
	"net/http"
	"regexp"
	"strings"

	"github.com/govs/govs/config"
)

var pathParam = regexp.MustCompile(`\{([a-z]+)\}`)

// openAPI builds the OpenAPI 3 document from apiRoutes.
func openAPI() map[string]any {
	str := map[string]any{"type": "string"}
	props := func(scope string, keys []string) map[string]any {
		m := map[string]any{}
		for _, k := range keys {
			m[k] = fieldSchema(scope, k)
		}
		return m
	}
	errSchema := map[string]any{"type": "object", "properties": map[string]any{
		"error": str, "fields": map[string]any{"type": "object", "additionalProperties": str}}}
	paths := map[string]any{}
	for _, rt := range apiRoutes {
		item, _ := paths[rt.path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[rt.path] = item
		}
		var params []any
		for _, m := range pathParam.FindAllStringSubmatch(rt.path, -1) {
			p := map[string]any{"name": m[1], "in": "path", "required": true, "schema": str}
			if m[1] == "action" {
				p["schema"] = map[string]any{"type": "string", "enum": []string{"enable", "disable", "drain", "clear"}}
			}
			params = append(params, p)
		}
		resp := map[string]any{
			"200": map[string]any{"description": "OK", "content": map[string]any{"application/json": map[string]any{"schema": map[string]any{"type": "object"}}}},
			"401": map[string]any{"description": "no valid token or session; nothing changed"},
		}
		if rt.write {
			resp["400"] = map[string]any{"description": "bad input; the reasons, by field", "content": map[string]any{"application/json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Error"}}}}
			resp["403"] = map[string]any{"description": "read-only user, or a session without its CSRF token"}
			resp["404"] = map[string]any{"description": "no such virtual or real server"}
			resp["409"] = map[string]any{"description": "the router refused the reload; the previous lvs.cf was restored"}
		}
		if rt.method == "POST" && rt.body != "" {
			resp["201"] = resp["200"]
		}
		op := map[string]any{"summary": rt.summary, "operationId": opID(rt), "responses": resp,
			"security": []any{map[string]any{"bearer": []any{}}}}
		if params != nil {
			op["parameters"] = params
		}
		if rt.body != "" {
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{
				"schema": map[string]any{"$ref": "#/components/schemas/" + rt.body}}}}
		}
		item[strings.ToLower(rt.method)] = op
	}
	return map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{"title": "govs REST API", "version": "1",
			"description": "Configure and monitor a govs LVS router. Fields are lvs.cf keywords; every change is validated, written to lvs.cf (serial_no+1) and reloaded, or refused with nothing changed."},
		"paths": paths,
		"components": map[string]any{
			"securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer",
				"description": "An API token made by govs passwd --token"}},
			"schemas": map[string]any{
				"Global":  map[string]any{"type": "object", "properties": props(config.ScopeGlobal, allGlobalKeys()), "additionalProperties": false},
				"Service": map[string]any{"type": "object", "properties": props(config.ScopeVirtual, ServiceKeys), "additionalProperties": false},
				"Server":  map[string]any{"type": "object", "properties": props(config.ScopeServer, ServerKeys), "additionalProperties": false},
				"Error":   errSchema,
			},
		},
	}
}

// fieldSchema is a field's schema, from the keyword registry: the API
// takes a keyword's value as a string as written in lvs.cf, and numbers
// and booleans also as JSON numbers and booleans. Fields that are not
// keywords of their own (name, device, nat_router_device) are strings.
func fieldSchema(scope, key string) map[string]any {
	desc := "lvs.cf keyword " + key
	k, ok := config.KeywordOf(scope, key)
	if !ok {
		return map[string]any{"type": "string", "description": "field " + key}
	}
	str := map[string]any{"type": "string"}
	switch k.Kind {
	case config.KindBool:
		return map[string]any{"description": desc + " (0 or 1)",
			"oneOf": []any{map[string]any{"type": "boolean"}, map[string]any{"type": "integer", "enum": []int{0, 1}},
				map[string]any{"type": "string", "enum": []string{"", "0", "1"}}}}
	case config.KindInt, config.KindSeconds, config.KindPort:
		num := map[string]any{"type": "integer", "minimum": k.Min, "maximum": k.Max}
		if k.Kind == config.KindPort {
			desc += " (a number, or a service name as a string)"
		}
		if k.Kind == config.KindSeconds {
			desc += " (seconds)"
		}
		return map[string]any{"description": desc, "oneOf": []any{num, str}}
	case config.KindEnum:
		choices := append([]string{""}, k.Choices...)
		if k.Max > 0 {
			// An open enumeration also takes numbers.
			return map[string]any{"description": desc + ": " + strings.Join(k.Choices, ", ") + ", or a number", "type": "string"}
		}
		return map[string]any{"description": desc, "type": "string", "enum": choices}
	}
	return map[string]any{"description": desc, "type": "string"}
}

func opID(rt apiRoute) string {
	p := strings.NewReplacer("/api/v1/", "", "/", "_", "{", "", "}", "").Replace(rt.path)
	return strings.ToLower(rt.method) + "_" + p
}

func (s *Server) apiOpenAPI(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, openAPI())
}
