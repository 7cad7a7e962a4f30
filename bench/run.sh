#!/usr/bin/env bash
# Side-by-side benchmark of the govs proxy data plane against haproxy (mode
# tcp) and nginx stream, one worker each, on loopback, in front of the same
# backends. Prints a machine line and a Markdown table of ratios to haproxy.
#
# Environment: DUR (seconds per wrk run, default 5), ROUNDS (runs of each
# wrk and iperf3 test per proxy, interleaved, the median reported; default
# 3), CONNS (wrk connections, default 50), BULK (seconds per iperf3 run,
# default 5), IDLE (idle connections for the memory test, default 10000),
# KEEP=1 keeps the work dir.
set -euo pipefail

DUR=${DUR:-5}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-50}
BULK=${BULK:-5}
IDLE=${IDLE:-10000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/govs-bench.XXXXXX)
PIDS=()

cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	sleep 0.5
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	[ "${KEEP:-0}" = 1 ] || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "# $*" >&2; }

# --- peers -----------------------------------------------------------------
need=()
command -v haproxy >/dev/null || need+=(haproxy)
command -v nginx >/dev/null || need+=(nginx)
[ -e /usr/lib/nginx/modules/ngx_stream_module.so ] || need+=(libnginx-mod-stream)
command -v wrk >/dev/null || need+=(wrk)
command -v iperf3 >/dev/null || need+=(iperf3)
if [ ${#need[@]} -gt 0 ]; then
	log "installing ${need[*]}"
	SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >&2
fi
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
NOFILE=$(ulimit -n)
# A proxy holds two descriptors per idle connection; stay under the limit
# and scale the memory figure to 10,000 connections.
if [ "$IDLE" -gt $(( (NOFILE - 1000) / 2 )) ]; then
	IDLE=$(( (NOFILE - 1000) / 2 / 1000 * 1000 ))
	log "ulimit -n is $NOFILE: $IDLE idle connections, scaled to 10,000"
fi

# --- build -----------------------------------------------------------------
log "building govs"
(cd "$ROOT" && go build -o "$WORK/govs" ./cmd/govs && go build -o "$WORK/idleconn" ./bench/idleconn)

# --- addresses -------------------------------------------------------------
BE=127.0.0.50        # backends: nginx http :8080, iperf3 :5201
DIRECT=$BE:8080
declare -A IP=([govs]=127.0.0.101 [haproxy]=127.0.0.102 [nginx]=127.0.0.103)
# Each proxy reaches the HTTP backend at an address of its own: the TIME_WAIT
# connections one proxy's run leaves would otherwise slow the next proxy's
# connects (the kernel searches for a free port among them).
declare -A HB=([govs]=127.0.0.51 [haproxy]=127.0.0.52 [nginx]=127.0.0.53)
PROXIES=(haproxy nginx govs)

start() { # name cmd... ; runs in background, records pid
	local name=$1; shift
	"$@" >"$WORK/$name.out" 2>&1 &
	PIDS+=($!)
	eval "PID_$name=$!"
}

wait_port() { # ip port
	local i
	for i in $(seq 1 100); do
		(exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && return 0
		sleep 0.1
	done
	echo "nothing listens on $1:$2" >&2
	return 1
}

# backend http: small body
cat >"$WORK/backend.conf" <<CONF
worker_processes 2;
worker_rlimit_nofile $NOFILE;
pid $WORK/backend.pid;
error_log $WORK/backend.err;
events { worker_connections 30000; }
http {
    access_log off;
    keepalive_requests 1000000;
    server {
        listen $BE:8080 backlog=4096;
        listen ${HB[govs]}:8080 backlog=4096;
        listen ${HB[haproxy]}:8080 backlog=4096;
        listen ${HB[nginx]}:8080 backlog=4096;
        location / { return 200 "hello\n"; }
    }
}
CONF
start backend nginx -p "$WORK" -c "$WORK/backend.conf" -g 'daemon off;'
start iperf iperf3 -s -B $BE -p 5201

# haproxy
cat >"$WORK/haproxy.cfg" <<CONF
global
    nbthread 1
    maxconn $(( (NOFILE - 100) / 2 ))
defaults
    mode tcp
    timeout connect 5s
    timeout client 5m
    timeout server 5m
frontend web
    bind ${IP[haproxy]}:80
    default_backend web
backend web
    server b1 ${HB[haproxy]}:8080
frontend bulk
    bind ${IP[haproxy]}:5201
    default_backend bulk
backend bulk
    server b1 $BE:5201
CONF
start haproxy haproxy -db -f "$WORK/haproxy.cfg"

# nginx stream
cat >"$WORK/nginx-stream.conf" <<CONF
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
worker_processes 1;
worker_rlimit_nofile $NOFILE;
pid $WORK/nginx-stream.pid;
error_log $WORK/nginx-stream.err;
events { worker_connections 40000; }
stream {
    server { listen ${IP[nginx]}:80 backlog=4096; proxy_pass ${HB[nginx]}:8080; }
    server { listen ${IP[nginx]}:5201; proxy_pass $BE:5201; }
}
CONF
start nginx nginx -p "$WORK" -c "$WORK/nginx-stream.conf" -g 'daemon off;'

# govs
cat >"$WORK/lvs.cf" <<CONF
serial_no = 1
primary = 127.0.0.1
service = lvs
network = nat
dataplane = proxy
virtual web {
    active = 1
    address = ${IP[govs]} lo
    protocol = tcp
    port = 80
    scheduler = rr
    server b1 {
        address = ${HB[govs]}
        port = 8080
        active = 1
        weight = 1
    }
}
virtual bulk {
    active = 1
    address = ${IP[govs]} lo
    protocol = tcp
    port = 5201
    scheduler = rr
    server b1 {
        address = $BE
        port = 5201
        active = 1
        weight = 1
    }
}
CONF
start govs env GOMAXPROCS=1 "$WORK/govs" run -c "$WORK/lvs.cf" --socket "$WORK/govs.sock" --log-level warn --drain-timeout 1s

wait_port $BE 8080; wait_port $BE 5201
for p in "${PROXIES[@]}"; do wait_port "${HB[$p]}" 8080; done
for p in "${PROXIES[@]}"; do wait_port "${IP[$p]}" 80; wait_port "${IP[$p]}" 5201; done

# --- helpers ---------------------------------------------------------------
to_ms() { # wrk latency value (e.g. 812.00us, 1.20ms, 1.01s) -> ms
	awk -v v="$1" 'BEGIN{
		if (v ~ /us$/) { sub(/us$/,"",v); printf "%.3f", v/1000 }
		else if (v ~ /ms$/) { sub(/ms$/,"",v); printf "%.3f", v }
		else if (v ~ /s$/) { sub(/s$/,"",v); printf "%.3f", v*1000 }
		else print "nan" }'
}
wrk_run() { # url extra-args... ; prints "rps p99ms errors"
	local url=$1; shift
	local out; out=$(wrk -t1 "$@" --latency "$url" 2>&1)
	echo "$out" >>"$WORK/wrk.log"
	local rps p99 err
	rps=$(echo "$out" | awk '/Requests\/sec/{print $2}')
	p99=$(to_ms "$(echo "$out" | awk '$1=="99%"{print $2}')")
	err=$(echo "$out" | awk '/Non-2xx|Socket errors/{print}' | tr '\n' ' ')
	[ -z "$err" ] || log "$url $*: $err"
	echo "$rps $p99"
}
rss_kb() { # pid: RSS of the process and its children, KiB
	ps -e -o pid=,ppid=,rss= | awk -v p="$1" '$1==p || $2==p {s+=$3} END{print s+0}'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b==0) print "n/a"; else printf "%.2fx", a/b }'; }

median() { # numbers on stdin -> their median
	sort -g | awk '{a[NR]=$1} END{ if (NR==0) print 0; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2 }'
}
samples() { tr ' ' '\n' <<<"$1" | grep -v '^$' | median; }

declare -A CPS KA P99 GBIT MEM S_CPS S_KA S_LAT S_GBIT
S_DIRECT=
sleep 1

# --- rounds: every proxy measured in turn, the order rotating each round -----
order=("${PROXIES[@]}")
for r in $(seq 1 "$ROUNDS"); do
	log "round $r of $ROUNDS: ${order[*]}"
	read -r _ lat < <(wrk_run "http://$DIRECT/" -c1 -d"${DUR}s")
	S_DIRECT+=" $lat"
	for p in "${order[@]}"; do
		ip=${IP[$p]}
		log "$p: new connections"
		read -r v _ < <(wrk_run "http://$ip/" -c"$CONNS" -d"${DUR}s" -H 'Connection: close')
		S_CPS[$p]+=" $v"
		sleep 2 # let the TIME_WAIT pile settle
		log "$p: keep-alive"
		read -r v _ < <(wrk_run "http://$ip/" -c"$CONNS" -d"${DUR}s")
		S_KA[$p]+=" $v"
		log "$p: latency"
		read -r _ v < <(wrk_run "http://$ip/" -c1 -d"${DUR}s")
		S_LAT[$p]+=" $v"
		log "$p: bulk"
		v=$(iperf3 -c "$ip" -p 5201 -t "$BULK" -f g 2>&1 | tee -a "$WORK/iperf.log" |
			awk '/receiver/{for(i=1;i<=NF;i++) if($i=="Gbits/sec") print $(i-1)}')
		S_GBIT[$p]+=" ${v:-0}"
	done
	order=("${order[@]:1}" "${order[0]}")
done
DIRECT_P99=$(samples "$S_DIRECT")
for p in "${PROXIES[@]}"; do
	CPS[$p]=$(samples "${S_CPS[$p]}")
	KA[$p]=$(samples "${S_KA[$p]}")
	GBIT[$p]=$(samples "${S_GBIT[$p]}")
	P99[$p]=$(awk -v a="$(samples "${S_LAT[$p]}")" -v b="$DIRECT_P99" 'BEGIN{printf "%.3f", a-b}')
	echo "$p samples: new_conn/s [${S_CPS[$p]# }] keep-alive [${S_KA[$p]# }] p99_ms [${S_LAT[$p]# }] Gbit/s [${S_GBIT[$p]# }]" >>"$WORK/samples"
done

# --- memory per idle connection, once per proxy ----------------------------
for p in "${PROXIES[@]}"; do
	ip=${IP[$p]}
	log "$p: $IDLE idle connections"
	pid_var=PID_$p; pid=${!pid_var}
	before=$(rss_kb "$pid")
	rm -f "$WORK/idle.fifo" "$WORK/idle.out"; mkfifo "$WORK/idle.fifo"
	"$WORK/idleconn" -addr "$ip:80" -n "$IDLE" <"$WORK/idle.fifo" >"$WORK/idle.out" 2>&1 &
	ipid=$!; PIDS+=($ipid)
	exec 4>"$WORK/idle.fifo" # holds the client's stdin open
	for _ in $(seq 1 300); do grep -q ready "$WORK/idle.out" && break; sleep 0.1; done
	after=$(rss_kb "$pid")
	read -r _ ok failed <"$WORK/idle.out" || failed=$IDLE
	exec 4>&-
	wait "$ipid" 2>/dev/null || true
	[ "$failed" = 0 ] || log "$p: $failed of $IDLE idle connections failed"
	MEM[$p]=$(awk -v a="$after" -v b="$before" -v n="$IDLE" 'BEGIN{printf "%.1f", (a-b)/1024*10000/n}')
	sleep 2
done

# --- report ----------------------------------------------------------------
printf 'machine: nproc=%s cpu="%s" kernel=%s load="%s" go=%s\n' \
	"$(nproc)" "$(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)" "$(uname -r)" \
	"$(awk '{print $1, $2, $3}' /proc/loadavg)" "$(go env GOVERSION)"
printf 'settings: DUR=%ss ROUNDS=%s CONNS=%s BULK=%ss IDLE=%s (ulimit -n %s) direct_p99=%sms (median)\n' "$DUR" "$ROUNDS" "$CONNS" "$BULK" "$IDLE" "$NOFILE" "$DIRECT_P99"
cat "$WORK/samples"
echo
echo "| metric | haproxy | nginx stream | govs | nginx / haproxy | govs / haproxy |"
echo "|---|---|---|---|---|---|"
row() { # label assoc-name better
	local -n m=$2
	printf '| %s | %s | %s | %s | %s | %s |\n' "$1" "${m[haproxy]}" "${m[nginx]}" "${m[govs]}" \
		"$(ratio "${m[nginx]}" "${m[haproxy]}")" "$(ratio "${m[govs]}" "${m[haproxy]}")"
}
row "new connections/s (Connection: close)" CPS
row "keep-alive requests/s" KA
row "bulk Gbit/s (iperf3)" GBIT
row "p99 added latency, ms (lower is better)" P99
row "RSS MiB per 10,000 idle connections (lower is better)" MEM
