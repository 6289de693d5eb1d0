#!/bin/sh
# Checks that every key listed in ACKED_FILE exists on the redis server on
# 127.0.0.1:PORT. Prints the counts and the first lost keys, and exits 1
# when any acknowledged key is lost.
# Usage: redis-verify-keys.sh PORT ACKED_FILE
set -eu
port=$1
acked=$2

replies=$(mktemp)
trap 'rm -f "$replies"' EXIT
awk '{ print "EXISTS " $1 }' "$acked" | redis-cli -h 127.0.0.1 -p "$port" > "$replies"

total=$(wc -l < "$acked")
present=$(grep -c '^1$' "$replies" || true)
lost=$((total - present))
echo "acknowledged: $total, present: $present, lost: $lost"
if [ "$lost" -gt 0 ]; then
    first=$(paste -d ' ' "$acked" "$replies" | awk '$2 != "1" { print $1 }' | head -n 5 | tr '\n' ' ')
    echo "first lost keys: $first"
    exit 1
fi
