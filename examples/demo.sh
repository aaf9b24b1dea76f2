#!/usr/bin/env bash
# `make demo`: a real experiment end to end, on loopback, with no root and no cluster.
#
# Builds bin/chaos and the example shop, starts payments and the resilient checkout
# (circuit breaker + fallback) in the background, runs
# examples/shop/experiments/payments-outage.yaml (payments goes down for 5 s behind
# a fault proxy the experiment owns), prints the verdict and the report path, stops
# the shop, and exits with the exit code of `chaos run`.
#
# The same against the fragile checkout, which fails with numbers:
#   examples/shop/scripts/run.sh fragile examples/shop/experiments/payments-outage.yaml
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
exec bash examples/shop/scripts/run.sh resilient examples/shop/experiments/payments-outage.yaml
