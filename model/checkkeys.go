package model

// Keywords of Check.Extra: the health-check extensions of lvs.cf. The
// config package parses and validates them and health gives them meaning;
// both name them from here.
const (
	KeyCheckType      = "check_type"
	KeyCheckPort      = "check_port"
	KeyCheckPath      = "check_path"
	KeyCheckHost      = "check_host"
	KeyCheckStatus    = "check_status"
	KeyCheckBody      = "check_body"
	KeyCheckTLSVerify = "check_tls_verify"
	KeyCheckSNI       = "check_sni"
	KeyDNSName        = "dns_name"
	KeyDNSType        = "dns_type"
	KeyDNSRcode       = "dns_rcode"
	KeyRise           = "rise"
	KeyFall           = "fall"
	KeySlowstart      = "slowstart"
	KeyAgentPort      = "agent_port"
	KeyAgentInterval  = "agent_interval"
)
