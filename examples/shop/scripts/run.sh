#!/usr/bin/env bash
# Run one example experiment against the shop, on loopback, without root.
#
#   examples/shop/scripts/run.sh [resilient|fragile] [EXPERIMENT.yaml]
#
# Builds bin/chaos, bin/shop-payments and bin/shop-checkout, starts payments on
# 127.0.0.1:18082 and checkout on 127.0.0.1:18080 (calling payments through the
# experiment's fault proxy on 127.0.0.1:18081, which `chaos run` starts and stops),
# runs the experiment, prints the verdict and the report path, and exits with the
# exit code of `chaos run` (0 passed, 1 failed, 2 invalid, 3 aborted/errored).
# Defaults: resilient, examples/shop/experiments/payments-outage.yaml.
# An experiment that mentions 127.0.0.1:19090 (payments-outage-prometheus.yaml) also
# gets a Prometheus there, scraping checkout every 250ms, with its data in the report
# directory; it needs Debian's `prometheus` package (or PROMETHEUS=/path/to/prometheus).
# Environment: REPORT_DIR (default chaos-reports/shop-<experiment>-<build>-<time>),
# GO (default go), CHAOS_FLAGS (extra flags for `chaos run`, e.g. "--progress plain"),
# PROMETHEUS (default /usr/bin/prometheus), CHAOS_MEASURE=1 (run `chaos run` under
# GNU time and print its peak RSS, CPU time, report.json size and observation count:
# the numbers of `make game-day`; needs /usr/bin/time, Debian package `time`).
set -euo pipefail

build=${1:-resilient}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
cd "$root"
experiment=${2:-examples/shop/experiments/payments-outage.yaml}
GO=${GO:-go}

case $build in
resilient) checkout_flags=(--breaker) ;;
fragile) checkout_flags=() ;;
*)
	echo "usage: $0 [resilient|fragile] [EXPERIMENT.yaml]" >&2
	exit 2
	;;
esac
[[ -f $experiment ]] || { echo "$0: no such experiment: $experiment" >&2; exit 2; }

checkout_addr=127.0.0.1:18080
proxy_addr=127.0.0.1:18081
payments_addr=127.0.0.1:18082
prometheus_addr=127.0.0.1:19090
addrs=($checkout_addr $proxy_addr $payments_addr)
with_prometheus=false
if grep -q "$prometheus_addr" "$experiment"; then
	with_prometheus=true
	addrs+=($prometheus_addr)
	PROMETHEUS=${PROMETHEUS:-/usr/bin/prometheus}
	if ! [[ -x $PROMETHEUS ]]; then
		echo "$0: $experiment needs Prometheus; install Debian's package (apt-get install prometheus) or set PROMETHEUS" >&2
		exit 2
	fi
fi

# in_use ADDR: something accepts connections on ADDR.
in_use() { (exec 3<>"/dev/tcp/${1%:*}/${1#*:}") 2>/dev/null; }
for a in "${addrs[@]}"; do
	if in_use "$a"; then
		echo "$0: $a is already in use; stop what listens there (the example uses 18080-18082 and 19090)" >&2
		exit 2
	fi
done

echo "building bin/chaos, bin/shop-payments, bin/shop-checkout ..."
mkdir -p bin
"$GO" build -o bin/chaos ./cmd/chaos
"$GO" build -o bin/shop-payments ./examples/shop/cmd/payments
"$GO" build -o bin/shop-checkout ./examples/shop/cmd/checkout

name=$(basename "$experiment" .yaml)
report_dir=${REPORT_DIR:-chaos-reports/shop-$name-$build-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$report_dir"

pids=()
cleanup() {
	local pid
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

bin/shop-payments --listen "$payments_addr" >"$report_dir/payments.log" 2>&1 &
pids+=($!)
bin/shop-checkout --listen "$checkout_addr" --payments-url "http://$proxy_addr" "${checkout_flags[@]}" \
	>"$report_dir/checkout.log" 2>&1 &
pids+=($!)

# Wait up to 10 s for both to answer /healthz.
for url in "http://$payments_addr/healthz" "http://$checkout_addr/healthz"; do
	for i in $(seq 100); do
		curl -fsS --noproxy '*' -o /dev/null --max-time 1 "$url" 2>/dev/null && break
		if ((i == 100)); then
			echo "$0: $url did not answer within 10s; logs in $report_dir" >&2
			exit 3
		fi
		sleep 0.1
	done
done
echo "shop up: checkout ($build) http://$checkout_addr -> proxy $proxy_addr -> payments $payments_addr"

if $with_prometheus; then
	cat >"$report_dir/prometheus.yml" <<-EOF
		global: {scrape_interval: 250ms, scrape_timeout: 250ms}
		scrape_configs:
		  - job_name: shop-checkout
		    static_configs: [{targets: ["$checkout_addr"]}]
	EOF
	"$PROMETHEUS" --config.file="$report_dir/prometheus.yml" --storage.tsdb.path="$report_dir/prometheus-data" \
		--web.listen-address="$prometheus_addr" --log.level=warn >"$report_dir/prometheus.log" 2>&1 &
	pids+=($!)
	# Wait up to 30 s for the first successful scrape of checkout to land.
	for i in $(seq 300); do
		curl -fsS --noproxy '*' --max-time 1 "http://$prometheus_addr/api/v1/query" \
			--data-urlencode 'query=up{job="shop-checkout"} == 1' 2>/dev/null | grep -q '"value"' && break
		if ((i == 300)); then
			echo "$0: Prometheus on $prometheus_addr has not scraped checkout within 30s; see $report_dir/prometheus.log" >&2
			exit 3
		fi
		sleep 0.1
	done
	echo "prometheus up: http://$prometheus_addr scraping checkout every 250ms"
fi

measure=()
if [[ ${CHAOS_MEASURE:-} == 1 ]]; then
	[[ -x /usr/bin/time ]] || { echo "$0: CHAOS_MEASURE=1 needs GNU time (apt-get install time)" >&2; exit 2; }
	measure=(/usr/bin/time -o "$report_dir/chaos-run.time" -f "%M %e %U %S")
fi
code=0
# shellcheck disable=SC2086 # CHAOS_FLAGS is a list of flags
"${measure[@]}" bin/chaos run --report-dir "$report_dir" ${CHAOS_FLAGS:-} "$experiment" || code=$?

verdict=$(sed -n 's/^ *"verdict": *"\([a-z-]*\)".*/\1/p' "$report_dir/report.json" 2>/dev/null | head -n1)
echo
echo "verdict: ${verdict:-unknown} (chaos run exit code $code)"
echo "report:  $report_dir/report.md (also report.json, junit.xml; shop logs *.log)"
if ((${#measure[@]})) && [[ -s $report_dir/chaos-run.time ]]; then
	read -r rss_kb wall user sys < <(tail -n1 "$report_dir/chaos-run.time")
	# Observations made: each probe's "completed"; kept: the lines of its series.
	obs=$({ grep -o '"completed": [0-9]*' "$report_dir/report.json" || true; } | awk '{s += $2} END {print s + 0}')
	kept=$({ grep -c '^ *{"time":' "$report_dir/report.json" || true; } | head -n1)
	size=$(stat -c %s "$report_dir/report.json")
	echo "chaos run: peak RSS $(awk -v k="$rss_kb" 'BEGIN {printf "%.1f", k / 1024}') MiB, ${wall}s wall, ${user}s user + ${sys}s sys CPU"
	echo "report.json: $size bytes, $kept observations kept of $obs made ($(awk -v s="$size" -v o="$obs" 'BEGIN {if (o) printf "%.1f", s / o; else print "-"}') bytes per observation made)"
fi
exit "$code"
