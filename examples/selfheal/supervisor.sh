#!/usr/bin/env bash
# supervisor.sh BIN LISTEN PIDFILE — keeps the webapp running: when it dies it is
# started again after one second (a stand-in for systemd's Restart=always).
set -u
bin=$1 listen=$2 pidfile=$3
trap 'kill "$child" 2>/dev/null; exit 0' TERM INT
while true; do
  "$bin" --listen "$listen" --pidfile "$pidfile" &
  child=$!
  wait "$child"
  sleep 1
done
