#!/bin/bash
# Pushes one gauge, roulette_example_pushed_value 42, to the pushgateway on
# 127.0.0.1:PORT under job "roulette-example", with bash's /dev/tcp and no
# HTTP client. Exits 0 when the pushgateway answers 200 or 202.
# Usage: push-metric.sh PORT
set -euo pipefail
port=$1
body=$'# TYPE roulette_example_pushed_value gauge\nroulette_example_pushed_value 42\n'
exec 3<>"/dev/tcp/127.0.0.1/$port"
printf 'PUT /metrics/job/roulette-example HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: %d\r\n\r\n%s' "${#body}" "$body" >&3
read -r status_line <&3
exec 3<&-
echo "pushgateway answered: ${status_line%$'\r'}"
case "$status_line" in
    "HTTP/1."?" 200"*|"HTTP/1."?" 202"*) exit 0 ;;
    *) exit 1 ;;
esac
