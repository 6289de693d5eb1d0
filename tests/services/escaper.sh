#!/bin/sh
# A service whose helpers get out of its process group: one through
# setsid, one as a double-forked daemon (its parent exits at once, so it is
# orphaned). Both print their pid and then sleep; the main process prints
# "ready" and waits. Each process exits by itself after 300 s at the latest.
setsid sh -c 'echo "escaped pid=$$"; exec sleep 300' &
(sh -c 'echo "daemon pid=$$"; exec sleep 300' &)
sleep 0.05
echo ready
exec sleep 300
