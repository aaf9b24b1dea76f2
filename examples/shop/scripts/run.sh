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
# Environment: REPORT_DIR (default chaos-reports/shop-<experiment>-<build>-<time>),
# GO (default go), CHAOS_FLAGS (extra flags for `chaos run`, e.g. "--progress plain").
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

# in_use ADDR: something accepts connections on ADDR.
in_use() { (exec 3<>"/dev/tcp/${1%:*}/${1#*:}") 2>/dev/null; }
for a in $checkout_addr $proxy_addr $payments_addr; do
	if in_use "$a"; then
		echo "$0: $a is already in use; stop what listens there (the example uses 18080-18082)" >&2
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

code=0
# shellcheck disable=SC2086 # CHAOS_FLAGS is a list of flags
bin/chaos run --report-dir "$report_dir" ${CHAOS_FLAGS:-} "$experiment" || code=$?

verdict=$(sed -n 's/^ *"verdict": *"\([a-z-]*\)".*/\1/p' "$report_dir/report.json" 2>/dev/null | head -n1)
echo
echo "verdict: ${verdict:-unknown} (chaos run exit code $code)"
echo "report:  $report_dir/report.md (also report.json, junit.xml; shop logs *.log)"
exit "$code"
