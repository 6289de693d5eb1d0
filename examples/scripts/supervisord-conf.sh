#!/bin/sh
# Writes a supervisord configuration into DIR that runs one program, the
# fixture worker BINARY on 127.0.0.1:PORT, restarted whenever it exits.
# supervisord keeps its log, pid file and child logs in DIR and opens no
# control socket.
# Usage: supervisord-conf.sh DIR PORT BINARY
set -eu
dir=$1
port=$2
binary=$3
cat > "$dir/supervisord.conf" <<CONF
[supervisord]
nodaemon=true
logfile=$dir/supervisord.log
pidfile=$dir/supervisord.pid
childlogdir=$dir

[program:worker]
command=$binary --port $port --state $dir/jobs.log
autorestart=true
startsecs=1
startretries=3
stopsignal=TERM
stopwaitsecs=5
CONF
