#!/bin/bash
# A service with its own worker pool: it keeps two `sleep 300` workers and
# replaces any that exit, as process managers do. It checks every 20 ms
# for at most 5 minutes, and each worker exits by itself after 300 s.
echo ready
for _ in $(seq 1 15000); do
    while [ "$(jobs -rp | wc -l)" -lt 2 ]; do
        sleep 300 &
    done
    sleep 0.02
done
