package web

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/govs/govs/health"
	"github.com/govs/govs/table"
)

// metrics exposes the table, health and router state. It is a collector
// reading the router at scrape time, so a scrape always sees the current
// table and nothing is kept between scrapes.
//
// Where a metric means what node_exporter's IPVS collector exports
// (node_ipvs_*), it has that name under govs_ipvs_ and the same labels
// (local_address, local_port, local_mark, proto, remote_address,
// remote_port), so that dashboards written for IPVS work on either data
// plane; govs adds the lvs.cf name as service. Traffic is counters only:
// Prometheus computes the rates.
type metrics struct {
	s   *Server
	reg *prometheus.Registry
	d   map[string]*prometheus.Desc
}

// Label sets: a virtual service as node_exporter labels it, a real server
// of one, a health monitor (its target and a digest of its check, never
// the payload it sends, which holds tokens in real configurations).
var (
	svcLabels = []string{"service", "local_address", "local_port", "local_mark", "proto"}
	rsLabels  = append(append([]string{}, svcLabels...), "remote_address", "remote_port", "server")
	chkLabels = []string{"remote_address", "remote_port", "check", "check_id"}
)

// metricDefs are the exported metrics: name, help, labels.
var metricDefs = []struct {
	name, help string
	labels     []string
}{
	{"govs_ipvs_connections_total", "Connections scheduled, over every virtual service (node_ipvs_connections_total).", nil},
	{"govs_ipvs_incoming_packets_total", "Packets from clients, over every virtual service.", nil},
	{"govs_ipvs_outgoing_packets_total", "Packets to clients, over every virtual service.", nil},
	{"govs_ipvs_incoming_bytes_total", "Bytes from clients, over every virtual service.", nil},
	{"govs_ipvs_outgoing_bytes_total", "Bytes to clients, over every virtual service.", nil},
	{"govs_ipvs_backend_connections_active", "Active connections to the real server (node_ipvs_backend_connections_active).", rsLabels},
	{"govs_ipvs_backend_connections_inactive", "Inactive connections to the real server (node_ipvs_backend_connections_inactive).", rsLabels},
	{"govs_ipvs_backend_weight", "The real server's effective weight, 0 when quiesced (node_ipvs_backend_weight).", rsLabels},
	{"govs_backend_connections_persistent", "Persistence templates pointing at the real server.", rsLabels},
	{"govs_backend_connections_total", "Connections scheduled to the real server.", rsLabels},
	{"govs_backend_incoming_bytes_total", "Bytes from clients to the real server.", rsLabels},
	{"govs_backend_outgoing_bytes_total", "Bytes from the real server to clients.", rsLabels},
	{"govs_backend_incoming_packets_total", "Packets from clients to the real server.", rsLabels},
	{"govs_backend_outgoing_packets_total", "Packets from the real server to clients.", rsLabels},
	{"govs_backend_state", "The real server's state, as a state set: 1 for the state it is in, 0 for the others.", append(append([]string{}, rsLabels...), "state")},
	{"govs_service_connections_active", "Active connections of the virtual service.", svcLabels},
	{"govs_service_connections_inactive", "Inactive connections of the virtual service.", svcLabels},
	{"govs_service_connections_total", "Connections the virtual service scheduled.", svcLabels},
	{"govs_service_incoming_bytes_total", "Bytes from clients through the virtual service.", svcLabels},
	{"govs_service_outgoing_bytes_total", "Bytes to clients through the virtual service.", svcLabels},
	{"govs_service_incoming_packets_total", "Packets from clients through the virtual service.", svcLabels},
	{"govs_service_outgoing_packets_total", "Packets to clients through the virtual service.", svcLabels},
	{"govs_service_refused_total", "New connections and UDP flows the virtual service refused at its max_conns.", svcLabels},
	{"govs_health_check_duration_seconds", "Durations of the health checks that ran.", chkLabels},
	{"govs_health_check_up", "1 when the monitored target is up, 0 when down or unknown.", chkLabels},
	{"govs_health_checks_total", "Health checks run.", chkLabels},
	{"govs_health_check_failures_total", "Health checks that failed.", chkLabels},
	{"govs_health_check_local_errors_total", "Health checks that could not run for a reason of this host's (no descriptor, no source address); they change no state.", chkLabels},
	{"govs_router_role", "The router's redundancy role, as a state set: 1 for its role, 0 for the others.", []string{"role"}},
	{"govs_router_reloads_total", "Configuration reloads and edits applied.", nil},
	{"govs_router_reload_errors_total", "Configuration reloads and edits refused.", nil},
	{"govs_router_serial_no", "serial_no of the running configuration.", nil},
	{"govs_router_info", "The router's version and data plane.", []string{"version", "dataplane"}},
	{"govs_dataplane_sockets", "Sockets the data plane's traffic holds, by protocol (two a TCP connection, one a UDP flow).", []string{"protocol"}},
	{"govs_dataplane_socket_limit", "The most sockets the data plane's traffic may hold, by protocol and in all (protocol=\"all\").", []string{"protocol"}},
	{"govs_dataplane_refused_total", "Connections (tcp) and flows (udp) refused because the socket budget was spent.", []string{"protocol"}},
	{"govs_dataplane_udp_receive_dropped_total", "Datagrams the kernel dropped at a UDP service socket's full receive buffer, before the data plane read them.", nil},
}

// roles are the redundancy roles, for the role state set.
var roles = []string{"active", "backup", "fault"}

func newMetrics(s *Server) *metrics {
	m := &metrics{s: s, reg: prometheus.NewRegistry(), d: map[string]*prometheus.Desc{}}
	for _, md := range metricDefs {
		m.d[md.name] = prometheus.NewDesc(md.name, md.help, md.labels, nil)
	}
	m.reg.MustRegister(m, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Describe sends every descriptor.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, md := range metricDefs {
		ch <- m.d[md.name]
	}
}

// serviceLabels labels a service as node_exporter does: a mark service
// has no address, port 0, its mark and protocol FWM.
func serviceLabels(s *table.ServiceStatus) []string {
	if s.FWMark != 0 {
		return []string{s.Name, "", "0", strconv.FormatUint(uint64(s.FWMark), 10), "FWM"}
	}
	return []string{s.Name, s.VIP, strconv.Itoa(int(s.Port)), "", s.Proto}
}

// Collect reads the router.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	gauge := func(name string, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(m.d[name], prometheus.GaugeValue, v, l...)
	}
	counter := func(name string, v uint64, l ...string) {
		ch <- prometheus.MustNewConstMetric(m.d[name], prometheus.CounterValue, float64(v), l...)
	}
	snap := m.s.r.Snapshot()
	var all table.Stats
	for i := range snap.Services {
		svc := &snap.Services[i]
		l := serviceLabels(svc)
		act, inact := 0, 0
		for _, d := range svc.Dests {
			act += d.ActiveConns
			inact += d.InactiveConns
			dl := append(append([]string{}, l...), d.Addr, strconv.Itoa(int(d.Port)), d.Name)
			gauge("govs_ipvs_backend_connections_active", float64(d.ActiveConns), dl...)
			gauge("govs_ipvs_backend_connections_inactive", float64(d.InactiveConns), dl...)
			gauge("govs_ipvs_backend_weight", float64(d.Weight), dl...)
			gauge("govs_backend_connections_persistent", float64(d.PersistConns), dl...)
			counter("govs_backend_connections_total", d.Stats.Conns, dl...)
			counter("govs_backend_incoming_bytes_total", d.Stats.InBytes, dl...)
			counter("govs_backend_outgoing_bytes_total", d.Stats.OutBytes, dl...)
			counter("govs_backend_incoming_packets_total", d.Stats.InPkts, dl...)
			counter("govs_backend_outgoing_packets_total", d.Stats.OutPkts, dl...)
			for _, st := range table.States() {
				v := 0.0
				if st.String() == d.State {
					v = 1
				}
				gauge("govs_backend_state", v, append(dl, st.String())...)
			}
		}
		gauge("govs_service_connections_active", float64(act), l...)
		gauge("govs_service_connections_inactive", float64(inact), l...)
		counter("govs_service_connections_total", svc.Stats.Conns, l...)
		counter("govs_service_incoming_bytes_total", svc.Stats.InBytes, l...)
		counter("govs_service_outgoing_bytes_total", svc.Stats.OutBytes, l...)
		counter("govs_service_incoming_packets_total", svc.Stats.InPkts, l...)
		counter("govs_service_outgoing_packets_total", svc.Stats.OutPkts, l...)
		counter("govs_service_refused_total", svc.Refused, l...)
		all.Conns += svc.Stats.Conns
		all.InPkts += svc.Stats.InPkts
		all.OutPkts += svc.Stats.OutPkts
		all.InBytes += svc.Stats.InBytes
		all.OutBytes += svc.Stats.OutBytes
	}
	counter("govs_ipvs_connections_total", all.Conns)
	counter("govs_ipvs_incoming_packets_total", all.InPkts)
	counter("govs_ipvs_outgoing_packets_total", all.OutPkts)
	counter("govs_ipvs_incoming_bytes_total", all.InBytes)
	counter("govs_ipvs_outgoing_bytes_total", all.OutBytes)
	for _, mon := range m.s.r.Health().Monitors {
		m.monitor(ch, mon)
	}
	st := m.s.r.Status()
	cur := m.s.role()
	for _, role := range roles {
		v := 0.0
		if role == cur {
			v = 1
		}
		gauge("govs_router_role", v, role)
	}
	counter("govs_router_reloads_total", uint64(st.Reloads))
	counter("govs_router_reload_errors_total", uint64(st.ReloadErrors))
	gauge("govs_router_serial_no", float64(st.SerialNo))
	gauge("govs_router_info", 1, st.Version, st.Plane)
	if sk := st.Sockets; sk != nil {
		gauge("govs_dataplane_sockets", float64(sk.TCP), "tcp")
		gauge("govs_dataplane_sockets", float64(sk.UDP), "udp")
		gauge("govs_dataplane_socket_limit", float64(sk.TCPLimit), "tcp")
		gauge("govs_dataplane_socket_limit", float64(sk.UDPLimit), "udp")
		gauge("govs_dataplane_socket_limit", float64(sk.Limit), "all")
		counter("govs_dataplane_refused_total", sk.RefusedTCP, "tcp")
		counter("govs_dataplane_refused_total", sk.RefusedUDP, "udp")
		counter("govs_dataplane_udp_receive_dropped_total", sk.DroppedUDP)
	}
}

func (m *metrics) monitor(ch chan<- prometheus.Metric, mon health.MonitorStatus) {
	l := []string{mon.Target.Addr.String(), strconv.Itoa(int(mon.Target.Port)), mon.Kind, mon.ID}
	up := 0.0
	if mon.State == "up" {
		up = 1
	}
	lat := mon.Latencies
	ch <- prometheus.MustNewConstHistogram(m.d["govs_health_check_duration_seconds"], lat.Count, lat.Sum.Seconds(), lat.Cumulative(), l...)
	ch <- prometheus.MustNewConstMetric(m.d["govs_health_check_up"], prometheus.GaugeValue, up, l...)
	ch <- prometheus.MustNewConstMetric(m.d["govs_health_checks_total"], prometheus.CounterValue, float64(mon.Checks), l...)
	ch <- prometheus.MustNewConstMetric(m.d["govs_health_check_failures_total"], prometheus.CounterValue, float64(mon.Failures), l...)
	ch <- prometheus.MustNewConstMetric(m.d["govs_health_check_local_errors_total"], prometheus.CounterValue, float64(mon.LocalErrors), l...)
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
