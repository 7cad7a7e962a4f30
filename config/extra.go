package config

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/govs/govs/model"
)

// extraKind is how a health-check extension's value is validated. The value
// itself is stored as written: the health package owns its meaning, this
// package only refuses what can never be right.
type extraKind uint8

const (
	extraText   extraKind = iota // any non-empty text
	extraPath                    // an HTTP path: starts with "/"
	extraCount                   // an integer >= min
	extraPort                    // a port 1-65535 (number or service name)
	extraBool                    // 0 or 1
	extraEnum                    // one of enum, any case
	extraStatus                  // HTTP status codes and ranges: 200-299,301
	extraRegexp                  // a Go (RE2) regular expression
)

// extraDef describes one health-check extension keyword of a virtual block.
type extraDef struct {
	key  string
	kind extraKind
	min  int64
	enum []string
	// open lets an enumeration also take a number in [min, max], for DNS
	// types and codes that have no mnemonic.
	open     bool
	openMax  int64
	openPref string
	// seconds marks a count of seconds, for the forms and the docs.
	seconds bool
	// value says what the value is and example shows one, for the
	// reference (README.md).
	value, example string
}

// checkExtras is the one table of health-check extensions; adding a
// keyword here is all it takes for the parser, the validator and the writer
// to handle it. The order is the order Write emits them in.
var checkExtras = []extraDef{
	{key: model.KeyCheckType, kind: extraEnum, enum: []string{"tcp", "udp", "http", "https", "dns", "program", "none"}, value: "`tcp` | `udp` | `http` | `https` | `dns` | `program` | `none`", example: "check_type = https"},
	{key: model.KeyCheckPort, kind: extraPort, value: "port 1–65535 (number or name)", example: "check_port = 8443"},
	{key: model.KeyCheckPath, kind: extraPath, value: "HTTP path starting with `/`", example: "check_path = /healthz"},
	{key: model.KeyCheckHost, kind: extraText, value: "Host header", example: "check_host = www.example.com"},
	{key: model.KeyCheckStatus, kind: extraStatus, value: "codes 100–599 and ranges", example: "check_status = 200-299,301"},
	{key: model.KeyCheckBody, kind: extraRegexp, value: "regular expression (Go RE2 syntax)", example: "check_body = \"^ok\""},
	{key: model.KeyCheckTLSVerify, kind: extraBool, value: "bool", example: "check_tls_verify = 1"},
	{key: model.KeyCheckSNI, kind: extraText, value: "TLS server name", example: "check_sni = www.example.com"},
	{key: model.KeyDNSName, kind: extraText, value: "name to query", example: "dns_name = example.com"},
	{key: model.KeyDNSType, kind: extraEnum, enum: []string{"A", "AAAA", "ANY", "CAA", "CNAME", "DNSKEY", "DS", "HTTPS", "MX", "NAPTR", "NS", "PTR", "SOA", "SRV", "SVCB", "TXT"},
		open: true, openMax: 65535, openPref: "TYPE", value: "A, AAAA, ANY, CAA, CNAME, DNSKEY, DS, HTTPS, MX, NAPTR, NS, PTR, SOA, SRV, SVCB, TXT, or TYPEn", example: "dns_type = AAAA"},
	{key: model.KeyDNSRcode, kind: extraEnum, enum: []string{"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE"},
		open: true, openMax: 4095, value: "NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED, YXDOMAIN, YXRRSET, NXRRSET, NOTAUTH, NOTZONE, or 0–4095", example: "dns_rcode = NOERROR"},
	{key: model.KeyRise, kind: extraCount, min: 1, value: "int ≥ 1: passes needed to come back", example: "rise = 2"},
	{key: model.KeyFall, kind: extraCount, min: 1, value: "int ≥ 1: failures needed to go down", example: "fall = 3"},
	{key: model.KeySlowstart, kind: extraCount, min: 0, seconds: true, value: "seconds ≥ 0 to ramp up a returning server", example: "slowstart = 30"},
	{key: model.KeyAgentPort, kind: extraPort, value: "port 1–65535 of a load-feedback agent", example: "agent_port = 7777"},
	{key: model.KeyAgentInterval, kind: extraCount, min: 1, seconds: true, value: "seconds ≥ 1 between agent queries", example: "agent_interval = 5"},
}

// CheckKeywords lists the health-check extension keywords that a virtual
// block accepts and model.Check.Extra may hold, in canonical order.
func CheckKeywords() []string {
	keys := make([]string, len(checkExtras))
	for i, d := range checkExtras {
		keys[i] = d.key
	}
	return keys
}

func extraByKey(key string) *extraDef {
	for i := range checkExtras {
		if checkExtras[i].key == key {
			return &checkExtras[i]
		}
	}
	return nil
}

// validate checks a value of the extension.
func (d *extraDef) validate(v string) error {
	switch d.kind {
	case extraText:
		if v == "" {
			return fmt.Errorf("empty value")
		}
	case extraPath:
		if !strings.HasPrefix(v, "/") {
			return fmt.Errorf("path must start with \"/\", got %q", v)
		}
	case extraCount:
		if _, err := intIn(v, d.min, 1<<31-1); err != nil {
			return err
		}
	case extraPort:
		p, err := ParsePort(v)
		if err != nil {
			return err
		}
		if p == 0 {
			return fmt.Errorf("port 0 cannot be checked")
		}
	case extraBool:
		_, err := parseBool(v)
		return err
	case extraEnum:
		for _, e := range d.enum {
			if strings.EqualFold(v, e) {
				return nil
			}
		}
		if d.open {
			num := v
			if d.openPref != "" && len(v) > len(d.openPref) && strings.EqualFold(v[:len(d.openPref)], d.openPref) {
				num = v[len(d.openPref):]
			}
			if n, err := strconv.ParseInt(num, 10, 64); err == nil && n >= 0 && n <= d.openMax {
				return nil
			}
		}
		return fmt.Errorf("invalid argument %q (want %s)", v, strings.Join(d.enum, ", "))
	case extraStatus:
		return validateStatus(v)
	case extraRegexp:
		if _, err := regexp.Compile(v); err != nil {
			return fmt.Errorf("invalid regular expression: %v", err)
		}
	}
	return nil
}

// validateStatus checks a list of HTTP status codes and ranges.
func validateStatus(v string) error {
	for _, part := range strings.Split(v, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err1 := strconv.Atoi(lo)
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || a < 100 || b > 599 || a > b {
			return fmt.Errorf("invalid status %q in %q (want codes 100-599 or ranges like 200-299)", part, v)
		}
	}
	return nil
}
