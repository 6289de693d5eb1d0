#!/bin/sh
# Starts one helper of each kind (in the group, escaped through setsid,
# and a double-forked daemon) and appends every pid, its own included, to
# DIR/pids, one per line. Each process exits by itself after 300 s at the
# latest.
# Usage: recorder.sh DIR
dir=$1
sh -c 'exec sleep 300' &
echo "$!" >> "$dir/pids"
setsid sh -c 'exec sleep 300' &
echo "$!" >> "$dir/pids"
(sh -c 'echo "$$" >> "$1/pids"; exec sleep 300' daemon "$dir" &)
echo "$$" >> "$dir/pids"
echo ready
exec sleep 300
