package web

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics exposes the table, health and router state. It is a collector
// reading the router at scrape time, so a scrape always sees the current
// table and nothing is kept between scrapes.
type metrics struct {
	s   *Server
	reg *prometheus.Registry

	svcConns, svcConnsTotal, svcBytes, svcPackets, svcCPS, svcBPS *prometheus.Desc
	svcRefused                                                    *prometheus.Desc
	rsConns, rsConnsTotal, rsBytes, rsCPS, rsBPS, rsWeight, rsUp  *prometheus.Desc
	chkLatency, chkUp, chkTotal, chkFail, chkLocal                *prometheus.Desc
	role, reloads, reloadErrs, serial, info                       *prometheus.Desc
	sockets, socketLimit, refused, dropped                        *prometheus.Desc
}

func newMetrics(s *Server) *metrics {
	svc := []string{"service", "key"}
	rs := []string{"service", "key", "server", "address"}
	// A monitor is its target and its check definition: the kind and a
	// digest of the rest, never the payload it sends (which holds tokens
	// in real configurations).
	chk := []string{"remote_address", "remote_port", "check", "check_id"}
	m := &metrics{s: s, reg: prometheus.NewRegistry(),
		svcConns:      prometheus.NewDesc("govs_service_connections", "Connections of the virtual service by state (active, inactive).", append(svc, "state"), nil),
		svcConnsTotal: prometheus.NewDesc("govs_service_connections_total", "Connections the virtual service has scheduled.", svc, nil),
		svcBytes:      prometheus.NewDesc("govs_service_bytes_total", "Bytes through the virtual service by direction (in, out).", append(svc, "direction"), nil),
		svcPackets:    prometheus.NewDesc("govs_service_packets_total", "Packets through the virtual service by direction (in, out).", append(svc, "direction"), nil),
		svcCPS:        prometheus.NewDesc("govs_service_connection_rate", "Connections per second, the kernel estimator's average.", svc, nil),
		svcBPS:        prometheus.NewDesc("govs_service_byte_rate", "Bytes per second by direction, the kernel estimator's average.", append(svc, "direction"), nil),
		svcRefused:    prometheus.NewDesc("govs_service_refused_total", "New connections and UDP flows the virtual service refused at its max_conns.", svc, nil),
		rsConns:       prometheus.NewDesc("govs_realserver_connections", "Connections of the real server by state (active, inactive, persistent).", append(rs, "state"), nil),
		rsConnsTotal:  prometheus.NewDesc("govs_realserver_connections_total", "Connections scheduled to the real server.", rs, nil),
		rsBytes:       prometheus.NewDesc("govs_realserver_bytes_total", "Bytes through the real server by direction.", append(rs, "direction"), nil),
		rsCPS:         prometheus.NewDesc("govs_realserver_connection_rate", "Connections per second to the real server.", rs, nil),
		rsBPS:         prometheus.NewDesc("govs_realserver_byte_rate", "Bytes per second through the real server by direction.", append(rs, "direction"), nil),
		rsWeight:      prometheus.NewDesc("govs_realserver_weight", "The real server's effective weight (0: quiesced).", rs, nil),
		rsUp:          prometheus.NewDesc("govs_realserver_state", "1 for the real server's current state (up, down, draining, disabled, ...).", append(rs, "state"), nil),
		chkLatency:    prometheus.NewDesc("govs_health_check_latency_seconds", "Duration of the latest health check.", chk, nil),
		chkUp:         prometheus.NewDesc("govs_health_check_up", "1 when the monitored target is up, 0 when down or unknown.", chk, nil),
		chkTotal:      prometheus.NewDesc("govs_health_checks_total", "Health checks run.", chk, nil),
		chkFail:       prometheus.NewDesc("govs_health_check_failures_total", "Health checks that failed.", chk, nil),
		chkLocal:      prometheus.NewDesc("govs_health_check_local_errors_total", "Health checks that could not run for a reason of this host's (no descriptor, no source address); they change no state.", chk, nil),
		role:          prometheus.NewDesc("govs_router_role", "1 for the router's redundancy role.", []string{"role"}, nil),
		reloads:       prometheus.NewDesc("govs_router_reloads_total", "Configuration reloads and edits applied.", nil, nil),
		reloadErrs:    prometheus.NewDesc("govs_router_reload_errors_total", "Configuration reloads and edits refused.", nil, nil),
		serial:        prometheus.NewDesc("govs_router_serial_no", "serial_no of the running configuration.", nil, nil),
		info:          prometheus.NewDesc("govs_router_info", "The router's version and data plane.", []string{"version", "dataplane"}, nil),
		sockets:       prometheus.NewDesc("govs_dataplane_sockets", "Sockets the data plane's traffic holds, by protocol (two a TCP connection, one a UDP flow).", []string{"protocol"}, nil),
		socketLimit:   prometheus.NewDesc("govs_dataplane_socket_limit", "The most sockets the data plane's traffic may hold, by protocol and in all (protocol=\"all\").", []string{"protocol"}, nil),
		refused:       prometheus.NewDesc("govs_dataplane_refused_total", "Connections (tcp) and flows (udp) refused because the socket budget was spent.", []string{"protocol"}, nil),
		dropped:       prometheus.NewDesc("govs_dataplane_udp_receive_dropped_total", "Datagrams the kernel dropped at a UDP service socket's full receive buffer, before the data plane read them.", nil, nil),
	}
	m.reg.MustRegister(m, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Describe sends every descriptor.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.svcConns, m.svcConnsTotal, m.svcBytes, m.svcPackets, m.svcCPS, m.svcBPS, m.svcRefused,
		m.rsConns, m.rsConnsTotal, m.rsBytes, m.rsCPS, m.rsBPS, m.rsWeight, m.rsUp,
		m.chkLatency, m.chkUp, m.chkTotal, m.chkFail, m.chkLocal, m.role, m.reloads, m.reloadErrs, m.serial, m.info,
		m.sockets, m.socketLimit, m.refused, m.dropped} {
		ch <- d
	}
}

// Collect reads the router.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	g := prometheus.GaugeValue
	c := prometheus.CounterValue
	snap := m.s.r.Snapshot()
	for _, svc := range snap.Services {
		l := []string{svc.Name, svc.Key}
		act, inact := 0, 0
		for _, d := range svc.Dests {
			act += d.ActiveConns
			inact += d.InactiveConns
			dl := append(append([]string{}, l...), d.Name, d.Addr+":"+strconv.Itoa(int(d.Port)))
			ch <- prometheus.MustNewConstMetric(m.rsConns, g, float64(d.ActiveConns), append(dl, "active")...)
			ch <- prometheus.MustNewConstMetric(m.rsConns, g, float64(d.InactiveConns), append(dl, "inactive")...)
			ch <- prometheus.MustNewConstMetric(m.rsConns, g, float64(d.PersistConns), append(dl, "persistent")...)
			ch <- prometheus.MustNewConstMetric(m.rsConnsTotal, c, float64(d.Stats.Conns), dl...)
			ch <- prometheus.MustNewConstMetric(m.rsBytes, c, float64(d.Stats.InBytes), append(dl, "in")...)
			ch <- prometheus.MustNewConstMetric(m.rsBytes, c, float64(d.Stats.OutBytes), append(dl, "out")...)
			ch <- prometheus.MustNewConstMetric(m.rsCPS, g, float64(d.Rates.CPS), dl...)
			ch <- prometheus.MustNewConstMetric(m.rsBPS, g, float64(d.Rates.InBPS), append(dl, "in")...)
			ch <- prometheus.MustNewConstMetric(m.rsBPS, g, float64(d.Rates.OutBPS), append(dl, "out")...)
			ch <- prometheus.MustNewConstMetric(m.rsWeight, g, float64(d.Weight), dl...)
			ch <- prometheus.MustNewConstMetric(m.rsUp, g, 1, append(dl, d.State)...)
		}
		ch <- prometheus.MustNewConstMetric(m.svcConns, g, float64(act), append(l, "active")...)
		ch <- prometheus.MustNewConstMetric(m.svcConns, g, float64(inact), append(l, "inactive")...)
		ch <- prometheus.MustNewConstMetric(m.svcConnsTotal, c, float64(svc.Stats.Conns), l...)
		ch <- prometheus.MustNewConstMetric(m.svcRefused, c, float64(svc.Refused), l...)
		ch <- prometheus.MustNewConstMetric(m.svcBytes, c, float64(svc.Stats.InBytes), append(l, "in")...)
		ch <- prometheus.MustNewConstMetric(m.svcBytes, c, float64(svc.Stats.OutBytes), append(l, "out")...)
		ch <- prometheus.MustNewConstMetric(m.svcPackets, c, float64(svc.Stats.InPkts), append(l, "in")...)
		ch <- prometheus.MustNewConstMetric(m.svcPackets, c, float64(svc.Stats.OutPkts), append(l, "out")...)
		ch <- prometheus.MustNewConstMetric(m.svcCPS, g, float64(svc.Rates.CPS), l...)
		ch <- prometheus.MustNewConstMetric(m.svcBPS, g, float64(svc.Rates.InBPS), append(l, "in")...)
		ch <- prometheus.MustNewConstMetric(m.svcBPS, g, float64(svc.Rates.OutBPS), append(l, "out")...)
	}
	for _, mon := range m.s.r.Health().Monitors {
		l := []string{mon.Target.Addr.String(), strconv.Itoa(int(mon.Target.Port)), mon.Kind, mon.ID}
		up := 0.0
		if mon.State == "up" {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(m.chkLatency, g, mon.Latency.Seconds(), l...)
		ch <- prometheus.MustNewConstMetric(m.chkUp, g, up, l...)
		ch <- prometheus.MustNewConstMetric(m.chkTotal, c, float64(mon.Checks), l...)
		ch <- prometheus.MustNewConstMetric(m.chkFail, c, float64(mon.Failures), l...)
		ch <- prometheus.MustNewConstMetric(m.chkLocal, c, float64(mon.LocalErrors), l...)
	}
	st := m.s.r.Status()
	ch <- prometheus.MustNewConstMetric(m.role, g, 1, m.s.role())
	ch <- prometheus.MustNewConstMetric(m.reloads, c, float64(st.Reloads))
	ch <- prometheus.MustNewConstMetric(m.reloadErrs, c, float64(st.ReloadErrors))
	ch <- prometheus.MustNewConstMetric(m.serial, g, float64(st.SerialNo))
	ch <- prometheus.MustNewConstMetric(m.info, g, 1, st.Version, st.Plane)
	if sk := st.Sockets; sk != nil {
		ch <- prometheus.MustNewConstMetric(m.sockets, g, float64(sk.TCP), "tcp")
		ch <- prometheus.MustNewConstMetric(m.sockets, g, float64(sk.UDP), "udp")
		ch <- prometheus.MustNewConstMetric(m.socketLimit, g, float64(sk.TCPLimit), "tcp")
		ch <- prometheus.MustNewConstMetric(m.socketLimit, g, float64(sk.UDPLimit), "udp")
		ch <- prometheus.MustNewConstMetric(m.socketLimit, g, float64(sk.Limit), "all")
		ch <- prometheus.MustNewConstMetric(m.refused, c, float64(sk.RefusedTCP), "tcp")
		ch <- prometheus.MustNewConstMetric(m.refused, c, float64(sk.RefusedUDP), "udp")
		ch <- prometheus.MustNewConstMetric(m.dropped, c, float64(sk.DroppedUDP))
	}
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
