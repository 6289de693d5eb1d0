#!/bin/sh
# Exits 0 when the PostgreSQL server on 127.0.0.1:PORT accepts
# connections, using pg_isready from the Debian package's newest server.
# Usage: postgres-ready.sh PORT
set -eu
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
exec "$bin/pg_isready" --quiet --host=127.0.0.1 --port="$1" --username=postgres --dbname=postgres
