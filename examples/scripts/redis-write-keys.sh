#!/bin/sh
# Writes COUNT keys to the redis server on 127.0.0.1:PORT and records the
# ones that redis acknowledged with OK in ACKED_FILE, one key per line.
# Usage: redis-write-keys.sh PORT COUNT ACKED_FILE
set -eu
port=$1
count=$2
acked=$3

seq 1 "$count" \
    | awk '{ print "SET key:" $1 " value-" $1 }' \
    | redis-cli -h 127.0.0.1 -p "$port" \
    | awk '$0 == "OK" { print "key:" NR }' > "$acked"

acknowledged=$(wc -l < "$acked")
echo "acknowledged $acknowledged of $count writes"
[ "$acknowledged" -eq "$count" ]
