package model

import "strings"

// wellKnownPorts stands in for getservbyname(3): govs must read the same
// file the same way on every machine, so it does not consult /etc/services.
// The names are those a load balancer's configuration plausibly uses.
var wellKnownPorts = map[string]uint16{
	"ftp-data": 20, "ftp": 21, "ssh": 22, "telnet": 23, "smtp": 25,
	"domain": 53, "dns": 53, "tftp": 69, "gopher": 70, "finger": 79,
	"http": 80, "www": 80, "www-http": 80, "kerberos": 88, "pop3": 110,
	"sunrpc": 111, "auth": 113, "nntp": 119, "ntp": 123, "imap": 143,
	"imap2": 143, "snmp": 161, "bgp": 179, "ldap": 389, "https": 443,
	"microsoft-ds": 445, "smtps": 465, "submissions": 465, "syslog": 514,
	"submission": 587, "ldaps": 636, "rsync": 873, "imaps": 993,
	"pop3s": 995, "socks": 1080, "openvpn": 1194, "ms-sql-s": 1433,
	"radius": 1812, "nfs": 2049, "mysql": 3306, "rdp": 3389,
	"ms-wbt-server": 3389, "sip": 5060, "sips": 5061, "postgresql": 5432,
	"amqp": 5672, "redis": 6379, "http-alt": 8080, "webcache": 8080,
	"memcache": 11211, "mongodb": 27017,
}

// LookupPort returns the port of a well-known service name such as "http"
// (any case), as lvs.cf accepts them wherever a port is written.
func LookupPort(name string) (uint16, bool) {
	p, ok := wellKnownPorts[strings.ToLower(name)]
	return p, ok
}
