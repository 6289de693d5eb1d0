#!/bin/sh
# A wrapper that starts a worker and dies on SIGTERM without stopping it,
# as many start scripts do. The worker stays in the process group.
sleep 300 &
echo "worker pid=$!"
echo ready
wait
