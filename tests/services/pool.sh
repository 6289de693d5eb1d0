#!/bin/bash
# A service with its own worker pool: it keeps two `sleep` workers and
# replaces one that exits, as process managers do. It replaces at most 50
# workers, and each worker exits by itself after 300 s at the latest.
for _ in 1 2; do
    sleep 300 &
done
echo ready
for _ in $(seq 1 50); do
    wait -n
    sleep 300 &
    echo "replaced a worker"
done
