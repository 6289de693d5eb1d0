#!/bin/sh
# A shell that ignores SIGTERM for itself and for its children, so only
# SIGKILL stops them.
trap '' TERM
sh -c 'echo "child pid=$$"; exec sleep 300' &
echo ready
wait
