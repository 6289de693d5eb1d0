#!/bin/sh
# Starts PostgreSQL in the foreground from the Debian package's newest
# server: creates a cluster with initdb in DATA_DIR when it has none,
# then replaces this shell with the postmaster (exec), so the harness
# supervises the postmaster itself. Listens on 127.0.0.1:PORT only, with
# its unix socket in SOCKET_DIR. Any further arguments are passed to
# postgres, such as `-c synchronous_commit=off`.
# Usage: postgres-start.sh DATA_DIR SOCKET_DIR PORT [POSTGRES_ARGS...]
set -eu
data=$1
sockets=$2
port=$3
shift 3

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$bin" ]; then
    echo "no PostgreSQL server under /usr/lib/postgresql; install the postgresql package" >&2
    exit 1
fi
if [ ! -f "$data/PG_VERSION" ]; then
    # --no-sync only skips initdb's own fsyncs of the new cluster; the
    # server started below syncs as configured.
    "$bin/initdb" --pgdata="$data" --username=postgres --auth=trust --no-sync >/dev/null
fi
exec "$bin/postgres" -D "$data" -k "$sockets" -p "$port" \
    -c listen_addresses=127.0.0.1 "$@"
