package config

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
)

// parseFindings parses src as "t.cf" and returns the rendered errors and
// warnings.
func parseFindings(t *testing.T, src string) (errs, warns []string) {
	t.Helper()
	c, res, err := parseChecked("t.cf", []byte(src))
	if res == nil {
		t.Fatalf("Parse returned a nil Result")
	}
	for _, w := range res.Warnings {
		warns = append(warns, w.String())
	}
	if err != nil {
		var list ErrorList
		if !errors.As(err, &list) {
			t.Fatalf("error is %T, want ErrorList", err)
		}
		if c != nil {
			t.Errorf("Parse returned a model together with errors")
		}
		for _, f := range list {
			errs = append(errs, f.String())
		}
		if err.Error() != strings.Join(errs, "\n") {
			t.Errorf("ErrorList.Error() = %q", err.Error())
		}
	} else if c == nil {
		t.Fatalf("Parse returned neither a model nor an error")
	}
	return errs, warns
}

// vblock wraps lines in a minimal valid virtual block.
func vblock(lines ...string) string {
	return "virtual web {\n    active = 1\n    address = 192.0.2.1 eth0:1\n" +
		strings.Join(lines, "\n") + "\n}\n"
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"empty file", "", []string{"t.cf: empty configuration"}},
		{"only blanks", " \n\t\r\n", []string{"t.cf: empty configuration"}},
		{"unclosed quote", vblock(`send = "GET /`),
			[]string{"t.cf:4: quotation mismatch"}},
		{"text glued to a closing quote", vblock(`send = "GET"x`),
			[]string{"t.cf:4: quotation mismatch"}},
		{"quote must close on its line", "active_cmd = \"a\nb\"\n",
			[]string{"t.cf:1: quotation mismatch", `t.cf:2: unknown keyword "b\""`}},
		{"no equal sign", "primary 192.0.2.10\n",
			[]string{"t.cf:1: primary: equal (=) expected after command"}},
		{"keyword alone", "primary\n",
			[]string{"t.cf:1: primary: equal (=) expected after command"}},
		{"missing value", "primary =\n",
			[]string{"t.cf:1: primary: missing arguments"}},
		{"extra value", "primary = 192.0.2.10 192.0.2.11\n",
			[]string{"t.cf:1: primary: unexpected arguments"}},
		{"trailing comment", "primary = 192.0.2.10 # main router\n",
			[]string{"t.cf:1: primary: unexpected arguments (comments must be on a line of their own)"}},
		{"address needs a device", vblock()[:0] + "virtual web {\n address = 192.0.2.1\n}\n",
			[]string{"t.cf:2: address: missing arguments"}},
		{"nat_router needs a device", "nat_router = 10.0.0.1\n",
			[]string{"t.cf:1: nat_router: missing arguments"}},
		{"unknown global keyword", "primary = 192.0.2.10\nprimary_ip = 192.0.2.10\n",
			[]string{`t.cf:2: unknown keyword "primary_ip"`}},
		{"unknown virtual keyword", vblock("    weight = 3"),
			[]string{`t.cf:4: unknown keyword "weight" in virtual "web" (weight belongs in a server block)`}},
		{"misspelt virtual keyword", vblock("    shceduler = rr"),
			[]string{`t.cf:4: unknown keyword "shceduler" in virtual "web" (did you mean "scheduler"?)`}},
		{"a keyword of nothing", vblock("    frobnicate = 1"),
			[]string{`t.cf:4: unknown keyword "frobnicate" in virtual "web"`}},
		{"unknown server keyword", vblock("    server a {", "        address = 10.0.0.1", "        scheduler = rr", "    }"),
			[]string{`t.cf:6: unknown keyword "scheduler" in server "a" (scheduler belongs in a virtual block)`}},
		{"keywords are case sensitive", "Primary = 192.0.2.10\n",
			[]string{`t.cf:1: unknown keyword "Primary" (did you mean "primary"?)`}},
		{"glued equal sign", "serial_no=3\n",
			[]string{`t.cf:1: unknown keyword "serial_no=3" (put blanks around "=")`}},
		{"integer expected", "serial_no = three\n",
			[]string{`t.cf:1: serial_no: integer expected, got "three"`}},
		{"strtol: 08 is bad octal", "serial_no = 08\n",
			[]string{`t.cf:1: serial_no: integer expected, got "08"`}},
		{"integer out of range", "heartbeat_port = 65536\n",
			[]string{"t.cf:1: heartbeat_port: port 65536 out of range (0-65535)"}},
		{"huge integer", "serial_no = 99999999999999999999\n",
			[]string{"t.cf:1: serial_no: 99999999999999999999 out of range (-2147483648-2147483647)"}},
		{"boolean expected", "backup_active = 2\n",
			[]string{`t.cf:1: backup_active: boolean expected (0 or 1), got "2"`}},
		{"boolean is not yes", "syncdaemon = yes\n",
			[]string{`t.cf:1: syncdaemon: boolean expected (0 or 1), got "yes"`}},
		{"host names are not resolved", "primary = lvs1.example.com\n",
			[]string{`t.cf:1: primary: "lvs1.example.com" is a host name; govs needs an IP address (it does not resolve names)`}},
		{"bad address", "backup = 192.0.2.300\n",
			[]string{`t.cf:1: backup: invalid host name or ip address "192.0.2.300"`}},
		{"primary cannot be 0.0.0.0", "primary = 0.0.0.0\n",
			[]string{`t.cf:1: primary: invalid host name or ip address "0.0.0.0"`}},
		{"zone", "primary = fe80::1%eth0\n",
			[]string{`t.cf:1: primary: address "fe80::1%eth0" must not have a zone`}},
		{"non-contiguous mask", "nat_nmask = 255.0.255.0\n",
			[]string{`t.cf:1: nat_nmask: Bad subnet mask specified: "255.0.255.0" is not contiguous`}},
		{"bad mask", "nat_nmask = fffff\n",
			[]string{`t.cf:1: nat_nmask: Bad subnet mask specified: "fffff"`}},
		{"prefix too long", "nat_nmask = 129\n",
			[]string{`t.cf:1: nat_nmask: Bad subnet mask specified: "129" (want a dotted quad or a prefix length 0-128)`}},
		{"unknown port name", vblock("    port = gopherz"),
			[]string{`t.cf:4: port: port number or known service name expected, got "gopherz"`}},
		{"port out of range", vblock("    port = 65536"),
			[]string{"t.cf:4: port: port 65536 out of range (0-65535)"}},
		{"unknown scheduler", vblock("    scheduler = fastest"),
			[]string{`t.cf:4: scheduler: unknown scheduler "fastest" (valid: rr, wrr, lc, wlc, sed, nq, lblc, lblcr, dh, sh, mh, fo, ovf, twos)`}},
		{"bad scheduler flag", vblock("    scheduler = sh", "    scheduler_flags = sh-random"),
			[]string{`t.cf:5: scheduler_flags: unknown scheduler flag "sh-random"`}},
		{"bad protocol", vblock("    protocol = sctp"),
			[]string{`t.cf:4: protocol: invalid argument "sctp" (want tcp or udp)`}},
		{"bad network", "network = dr\n",
			[]string{`t.cf:1: network: invalid argument "dr" (want nat, direct or tunnel)`}},
		{"bad service", "service = both\n",
			[]string{`t.cf:1: service: invalid argument "both" (want lvs or fos)`}},
		{"bad dataplane", "dataplane = xdp\n",
			[]string{`t.cf:1: dataplane: invalid argument "xdp" (want proxy, ipvs or auto)`}},
		{"bad reservation action", "reservation_conflict_action = wait\n",
			[]string{`t.cf:1: reservation_conflict_action: invalid argument "wait" (want nothing or preempt)`}},
		{"keepalive must be positive", "keepalive = 0\n",
			[]string{"t.cf:1: keepalive: 0 out of range (1-2147483647)"}},
		{"timeout must be positive", vblock("    timeout = 0"),
			[]string{"t.cf:4: timeout: 0 out of range (1-2147483647)"}},
		{"negative re-entry time", vblock("    reentry = -1"),
			[]string{"t.cf:4: reentry: -1 out of range (0-2147483647)"}},
		{"empty device", "virtual web {\n address = 192.0.2.1 \"\"\n}\n",
			[]string{"t.cf:2: address: empty device"}},
		{"empty interface", "syncd_iface = ''\n",
			[]string{"t.cf:1: syncd_iface: empty value"}},
		{"weight out of range", vblock("    server a {", "        address = 10.0.0.1", "        weight = 65536", "    }"),
			[]string{"t.cf:6: weight: 65536 out of range (0-65535)"}},
		{"negative weight", vblock("    server a {", "        address = 10.0.0.1", "        weight = -1", "    }"),
			[]string{"t.cf:6: weight: -1 out of range (0-65535)"}},
		{"proxy_protocol range", vblock("    server a {", "        address = 10.0.0.1", "        proxy_protocol = 3", "    }"),
			[]string{"t.cf:6: proxy_protocol: 3 out of range (0-2)"}},
		{"bad tunnel type", vblock("    server a {", "        address = 10.0.0.1", "        tunnel_type = vxlan", "    }"),
			[]string{`t.cf:6: tunnel_type: invalid argument "vxlan" (want ipip, gue or gre)`}},
		{"threshold order", vblock("    server a {", "        address = 10.0.0.1", "        uthreshold = 100", "        lthreshold = 200", "    }"),
			[]string{"t.cf:7: lthreshold 200 is above uthreshold 100"}},
		{"bad sorry server", vblock("    sorry_server = sorry.example.com"),
			[]string{`t.cf:4: sorry_server: "sorry.example.com" is a host name; govs needs an IP address (it does not resolve names)`}},

		{"block opener without brace", "virtual web\n address = 192.0.2.1 eth0\n active = 1\n}\n",
			[]string{"t.cf:1: virtual: missing arguments (want: virtual NAME {)"}},
		{"block opener with extra words", "virtual my web {\n}\n",
			[]string{"t.cf:1: virtual: unexpected arguments (want: virtual NAME {)"}},
		{"block opener with wrong third word", "virtual web [\n}\n",
			[]string{`t.cf:1: virtual: "{" expected after the name`}},
		{"empty block name", "virtual \"\" {\n}\n",
			[]string{"t.cf:1: virtual: empty name"}},
		{"unclosed virtual", "virtual web {\n active = 1\n address = 192.0.2.1 eth0\n",
			[]string{`t.cf:1: virtual "web" is not closed (missing "}")`}},
		{"unclosed server", "virtual web {\n address = 192.0.2.1 eth0\n server a {\n  address = 10.0.0.1\n",
			[]string{`t.cf:1: virtual "web" is not closed (missing "}")`, `t.cf:3: server "a" is not closed (missing "}")`}},
		{"the last brace closes the server", vblock("    server a {", "        address = 10.0.0.1"),
			[]string{`t.cf:1: virtual "web" is not closed (missing "}")`}},
		{"stray brace", "primary = 192.0.2.10\n}\n",
			[]string{`t.cf:2: "}" without an open block`}},
		{"brace with words", vblock()[:len(vblock())-2] + "} web\n",
			[]string{`t.cf:5: unexpected arguments after "}"`}},
		{"server outside virtual", "server a {\n address = 10.0.0.1\n}\nprimary = 192.0.2.10\n",
			[]string{"t.cf:1: server block outside a virtual block"}},
		{"virtual inside virtual", "virtual a {\n active = 0\nvirtual b {\n active = 0\n}\n",
			[]string{`t.cf:3: virtual block inside virtual "a" (missing "}"?)`}},

		{"missing VIP", "virtual web {\n active = 1\n}\n",
			[]string{"t.cf:1: missing address (the VIP and its device: address = IP DEVICE)"}},
		{"unspecified VIP", "virtual web {\n active = 1\n address = 0.0.0.0 eth0:1\n}\n",
			[]string{"t.cf:3: address 0.0.0.0 is not a usable virtual IP"}},
		{"missing real server address", vblock("    server a {", "        active = 1", "    }"),
			[]string{"t.cf:4: missing address"}},
		{"port 0 without persistence", vblock("    port = 0"),
			[]string{"t.cf:4: port 0 needs persistent > 0 or a firewall mark"}},
		{"one_packet needs udp", vblock("    one_packet = 1"),
			[]string{"t.cf:4: one_packet needs protocol = udp"}},
		{"ftp needs tcp", vblock("    protocol = udp", "    ftp = 1"),
			[]string{"t.cf:5: ftp needs protocol = tcp"}},
		{"pmask too long for IPv4", vblock("    persistent = 60", "    pmask = 64"),
			[]string{"t.cf:5: pmask /64 is too long for an IPv4 address"}},
		{"vip_nmask too long for IPv4", vblock("    vip_nmask = 33"),
			[]string{"t.cf:4: vip_nmask /33 is too long for an IPv4 address"}},
		{"fwmark_ports without fwmark", vblock("    fwmark_ports = 80,443"),
			[]string{"t.cf:4: fwmark_ports needs fwmark"}},
		{"fwmark_ports overlap", vblock("    fwmark = 1", "    fwmark_ports = 80,443,8000-9000,8443"),
			[]string{"t.cf:5: fwmark_ports: 8443 overlaps 8000-9000"}},
		{"fwmark_ports empty range", vblock("    fwmark = 1", "    fwmark_ports = 90-80"),
			[]string{`t.cf:5: fwmark_ports: empty range "90-80" in "90-80"`}},
		{"fwmark_ports bad port", vblock("    fwmark = 1", "    fwmark_ports = 80,,443"),
			[]string{`t.cf:5: fwmark_ports: bad port "" in "80,,443": port number or known service name expected, got ""`}},
		{"fwmark_ports port 0", vblock("    fwmark = 1", "    fwmark_ports = 0-10"),
			[]string{`t.cf:5: fwmark_ports: port 0 in "0-10" cannot be marked`}},
		{"fwmark out of range", vblock("    fwmark = 4294967296"),
			[]string{"t.cf:4: fwmark: 4294967296 out of range (0-4294967295)"}},
		{"dirs needs a list", vblock("    dirs = /var/ftp"),
			[]string{"t.cf:4: dirs: list expected (want: dirs = [ DIR ... ])"}},
		{"dirs needs a closing bracket", vblock("    dirs = [ /var/ftp"),
			[]string{`t.cf:4: dirs: list expected: missing "]"`}},

		{"check_type", vblock("    check_type = smtp"),
			[]string{`t.cf:4: check_type: invalid argument "smtp" (want tcp, udp, http, https, dns, program, none)`}},
		{"check_port 0", vblock("    check_port = 0"),
			[]string{"t.cf:4: check_port: port 0 cannot be checked"}},
		{"check_path", vblock("    check_path = healthz"),
			[]string{`t.cf:4: check_path: path must start with "/", got "healthz"`}},
		{"check_status", vblock("    check_status = 200-299,700"),
			[]string{`t.cf:4: check_status: invalid status "700" in "200-299,700" (want codes 100-599 or ranges like 200-299)`}},
		{"check_body", vblock("    check_body = \"(ok\""),
			[]string{"t.cf:4: check_body: invalid regular expression: error parsing regexp: missing closing ): `(ok`"}},
		{"check_tls_verify", vblock("    check_tls_verify = true"),
			[]string{`t.cf:4: check_tls_verify: boolean expected (0 or 1), got "true"`}},
		{"rise", vblock("    rise = 0"),
			[]string{"t.cf:4: rise: 0 out of range (1-2147483647)"}},
		{"dns_type", vblock("    dns_type = AAAAA"),
			[]string{`t.cf:4: dns_type: invalid argument "AAAAA" (want A, AAAA, ANY, CAA, CNAME, DNSKEY, DS, HTTPS, MX, NAPTR, NS, PTR, SOA, SRV, SVCB, TXT)`}},
		{"check_host empty", vblock("    check_host = \"\""),
			[]string{"t.cf:4: check_host: empty value"}},

		{"duplicate virtual names",
			"virtual web {\n address = 192.0.2.1 eth0\n}\nvirtual web {\n address = 192.0.2.2 eth0\n}\n",
			[]string{`t.cf:4: duplicate virtual name "web", also virtual "web" (line 1)`}},
		{"duplicate service key",
			"virtual a {\n active = 1\n address = 192.0.2.1 eth0\n port = 80\n}\nvirtual b {\n active = 1\n address = 192.0.2.1 eth0\n port = http\n}\n",
			[]string{`t.cf:6: same service (TCP  192.0.2.1:80) as virtual "a" (line 1)`}},
		{"duplicate mark",
			"virtual a {\n active = 1\n address = 192.0.2.1 eth0\n fwmark = 5\n}\nvirtual b {\n active = 1\n address = 192.0.2.2 eth0\n fwmark = 0x5\n}\n",
			[]string{`t.cf:6: same service (FWM  5) as virtual "a" (line 1)`}},
		{"overlapping marked ports",
			"virtual a {\n active = 1\n address = 192.0.2.1 eth0\n fwmark = 5\n fwmark_ports = 80,443\n}\n" +
				"virtual b {\n active = 1\n address = 192.0.2.1 eth0\n fwmark = 6\n fwmark_ports = 400-500\n}\n",
			[]string{`t.cf:11: fwmark_ports 400-500 overlaps 443 of virtual "a" (line 1) on 192.0.2.1`}},
		{"duplicate real server",
			vblock("    server a {", "        address = 10.0.0.1", "        active = 1", "    }",
				"    server b {", "        address = 10.0.0.1", "        active = 1", "        port = 80", "    }"),
			[]string{`t.cf:8: real server 10.0.0.1:80 is already server "a" (line 4)`}},
		{"duplicate server names",
			vblock("    server a {", "        address = 10.0.0.1", "    }",
				"    server a {", "        address = 10.0.0.2", "    }"),
			[]string{`t.cf:7: duplicate server name "a", also server "a" (line 4)`}},

		{"every error, sorted by line",
			"serial_no = x\nprimary = host\n" +
				"virtual web {\n active = 1\n address = 192.0.2.1 eth0\n protocol = tcp\n one_packet = 1\n" +
				" server a {\n  address = 10.0.0.1\n  weight = 1e3\n }\n}\n" +
				"virtual web {\n address = 192.0.2.2 eth0\n bogus = 1\n}\n",
			[]string{
				`t.cf:1: serial_no: integer expected, got "x"`,
				`t.cf:2: primary: "host" is a host name; govs needs an IP address (it does not resolve names)`,
				"t.cf:7: one_packet needs protocol = udp",
				`t.cf:10: weight: integer expected, got "1e3"`,
				`t.cf:13: duplicate virtual name "web", also virtual "web" (line 3)`,
				`t.cf:15: unknown keyword "bogus" in virtual "web"`,
			}},
		{"errors inside a failover block are still errors",
			"failover f {\n address = 192.0.2.9 eth0\n port = nope\n}\n",
			[]string{`t.cf:3: port: port number or known service name expected, got "nope"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs, _ := parseFindings(t, tt.src)
			if !reflect.DeepEqual(errs, tt.want) {
				t.Errorf("errors:\n got %q\nwant %q", errs, tt.want)
			}
		})
	}
}

func TestParseWarnings(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"ignored global keywords",
			"heartbeat = 1\ndebug_level = NONE\nsync = 0\nhard_shutdown = 1\nrsh_command = ssh\nipvsadm = /usr/sbin/ipvsadm\n" +
				"primary_shared = /dev/sdb\nbackup_shared = /dev/sdb\nreservation_conflict_action = nothing\n",
			[]string{
				"t.cf:1: ignored: heartbeat (heartbeats are sent whenever backup_active = 1)",
				"t.cf:2: ignored: debug_level (Piranha did not use it either)",
				"t.cf:3: ignored: sync (legacy file synchronisation flag, unused)",
				"t.cf:4: ignored: hard_shutdown (govs checks real servers itself, without nanny processes)",
				"t.cf:5: ignored: rsh_command (remote load monitoring is not supported)",
				"t.cf:6: ignored: ipvsadm (govs programs IPVS over netlink, not with ipvsadm)",
				"t.cf:7: ignored: primary_shared (shared-SCSI failover is not supported)",
				"t.cf:8: ignored: backup_shared (shared-SCSI failover is not supported)",
				"t.cf:9: ignored: reservation_conflict_action (shared-SCSI failover is not supported)",
			}},
		{"ignored virtual keywords",
			vblock("    client_monitor = /usr/sbin/nanny", "    start_cmd = \"/sbin/service httpd start\"",
				"    stop_cmd = x", "    master = 192.0.2.10", "    dirs = [ /a /b ]",
				"    server a {", "        address = 10.0.0.1", "        nmask = 255.255.255.255", "    }"),
			[]string{
				"t.cf:4: ignored: client_monitor (govs checks real servers itself, without nanny processes)",
				"t.cf:5: ignored: start_cmd (failover services are not supported)",
				"t.cf:6: ignored: stop_cmd (failover services are not supported)",
				"t.cf:7: ignored: master (legacy keyword, unused)",
				"t.cf:8: ignored: dirs (legacy keyword, unused)",
				"t.cf:11: ignored: nmask (real-server netmask, unused)",
			}},
		{"dirs with glued brackets", vblock("    dirs = [/a /b]"),
			[]string{"t.cf:4: ignored: dirs (legacy keyword, unused)"}},
		{"service fos", "service = fos\n",
			[]string{"t.cf:1: ignored: service = fos (failover services are not supported; govs runs the virtual servers)"}},
		{"failover block, one warning for all of it",
			"failover web {\n address = 192.0.2.9 eth0:3\n active = 1\n start_cmd = \"/etc/init.d/httpd start\"\n stop_cmd = x\n timeout = 10\n}\n",
			[]string{`t.cf:1: ignored: failover "web" (failover services are not supported; govs runs virtual servers)`}},
		{"syncd_id is masked", "syncd_id = 300\n",
			[]string{"t.cf:1: syncd_id 300 is used as 44 (it is masked to 0-255)"}},
		{"negative persistence means none", vblock("    persistent = -1"),
			[]string{"t.cf:4: persistent -1 is read as 0 (not persistent)"}},
		{"duplicate keyword", "keepalive = 3\nkeepalive = 4\n",
			[]string{`t.cf:2: duplicate keyword "keepalive" (also on line 1); the last one wins`}},
		{"inet_aton forms", "primary = 10.1\nbackup = 010.0.0.1\n",
			[]string{
				`t.cf:1: "10.1" is read as 10.0.0.1 (inet_aton form); write 10.0.0.1`,
				`t.cf:2: "010.0.0.1" is read as 8.0.0.1 (inet_aton form); write 8.0.0.1`,
			}},
		{"private addresses without primary_private",
			"primary = 192.0.2.10\nbackup = 192.0.2.11\nbackup_private = 10.0.0.11\n",
			[]string{"t.cf:3: ignored: backup_private (without primary_private the private heartbeat addresses are the public ones)"}},
		{"unknown load monitor", vblock("    load_monitor = snmp"),
			[]string{`t.cf:4: load_monitor "snmp" is not one of none, uptime, rup, ruptime; no load monitoring is done`}},
		{"direct routing under the proxy plane",
			"network = direct\ndataplane = proxy\n" + vblock("    server a {", "        address = 10.0.0.1", "        active = 1", "    }",
				"    server b {", "        address = 10.0.0.2", "        active = 1", "        network = tunnel", "    }",
				"    server c {", "        address = 10.0.0.3", "        network = tunnel", "    }"),
			[]string{
				"t.cf:1: network = direct is not supported by the proxy data plane (set dataplane = ipvs)",
				"t.cf:13: network = tunnel is not supported by the proxy data plane (set dataplane = ipvs)",
			}},
		{"direct routing with only inactive servers", "network = direct\n" + vblock(
			"    server a {", "        address = 10.0.0.1", "    }"), nil},
		{"direct routing under the ipvs plane", "dataplane = ipvs\nnetwork = direct\n" + vblock(
			"    server a {", "        address = 10.0.0.1", "    }"), nil},
		{"direct routing, every server overrides it", "network = direct\n" + vblock(
			"    server a {", "        address = 10.0.0.1", "        network = nat", "    }"), nil},
		{"proxy protocol under the ipvs plane", "dataplane = ipvs\n" + vblock(
			"    server a {", "        address = 10.0.0.1", "        active = 1", "        proxy_protocol = 2", "    }"),
			[]string{"t.cf:8: proxy_protocol needs the proxy data plane; IPVS forwards packets unchanged"}},
		{"mixed families under the ipvs plane", "dataplane = ipvs\n" + vblock(
			"    server a {", "        address = 2001:db8::1", "        active = 1", "    }"),
			[]string{"t.cf:6: IPVS cannot forward IPv4 traffic to IPv6 real server 2001:db8::1 with network = nat (only tunnel mixes families)"}},
		{"mixed families under the proxy plane are fine", vblock(
			"    server a {", "        address = 2001:db8::1", "        active = 1", "    }"), nil},
		{"pmask without persistence", vblock("    pmask = 255.255.255.0"),
			[]string{"t.cf:4: pmask has no effect without persistent"}},
		{"expire_quiescent without persistence", vblock("    expire_quiescent = 1"),
			[]string{"t.cf:4: expire_quiescent has no effect without persistent"}},
		{"scheduler flags on wlc", vblock("    scheduler_flags = flag-1"),
			[]string{"t.cf:4: scheduler_flags only affect the sh and mh schedulers, not wlc"}},
		{"tunnel type without tunnel", vblock("    server a {", "        address = 10.0.0.1", "        tunnel_type = gre", "    }"),
			[]string{"t.cf:6: tunnel_type only applies to network = tunnel"}},
		{"direct routing cannot change the port", "dataplane = ipvs\n" + vblock("    server a {", "        address = 10.0.0.1",
			"        network = direct", "        port = 8080", "    }"),
			[]string{"t.cf:8: port 8080 is not used: network = direct cannot change the destination port (virtual port 80)"}},
		{"send with send_program", vblock("    send = \"x\"", "    send_program = \"/bin/check %h\""),
			[]string{"t.cf:4: send is not used when send_program is set"}},
		{"backup_active without backup", "backup_active = 1\nkeepalive = 2\ndeadtime = 6\n",
			[]string{"t.cf:1: backup_active = 1 but no backup address is set; Piranha ignored backup_active then"}},
		{"deadtime not above keepalive", "backup_active = 1\nbackup = 192.0.2.11\nkeepalive = 6\ndeadtime = 6\n",
			[]string{"t.cf:4: deadtime 6s is not longer than keepalive 6s: the partner is declared dead between two heartbeats"}},
		{"inactive duplicates are only warned about",
			"virtual a {\n active = 1\n address = 192.0.2.1 eth0\n}\nvirtual b {\n address = 192.0.2.1 eth0\n}\n",
			[]string{`t.cf:5: same service (TCP  192.0.2.1:80) as virtual "a" (line 1)`}},
		{"inactive virtual without address", "virtual a {\n active = 0\n}\n",
			[]string{"t.cf:1: missing address (the VIP and its device: address = IP DEVICE)"}},
		{"inactive real server without address", vblock("    server a {", "        weight = 1", "    }"),
			[]string{"t.cf:4: missing address"}},
		{"marked port shadows a plain service",
			"virtual a {\n active = 1\n address = 192.0.2.1 eth0\n fwmark = 5\n fwmark_ports = 80,443\n}\n" +
				"virtual b {\n active = 1\n address = 192.0.2.1 eth0\n port = 80\n}\n",
			[]string{`t.cf:7: port 80 of 192.0.2.1 is also marked by virtual "a" (line 1), which takes its traffic`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs, warns := parseFindings(t, tt.src)
			if len(errs) > 0 {
				t.Fatalf("unexpected errors: %q", errs)
			}
			if !reflect.DeepEqual(warns, tt.want) {
				t.Errorf("warnings:\n got %q\nwant %q", warns, tt.want)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	c, _, err := Load("testdata/piranha-example.cf")
	if err != nil || len(c.Services) != 2 {
		t.Fatalf("Load: %v", err)
	}
	_, _, err = Load("testdata/does-not-exist.cf")
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Load of a missing file: %v", err)
	}
}
