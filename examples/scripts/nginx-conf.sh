#!/bin/sh
# Writes an nginx configuration into DIR for a server on 127.0.0.1:PORT
# with two worker processes, in the foreground (daemon off), with every
# file it writes (pid, logs, temp files) inside DIR.
# Usage: nginx-conf.sh DIR PORT
set -eu
dir=$1
port=$2
cat > "$dir/nginx.conf" <<CONF
daemon off;
master_process on;
worker_processes 2;
pid $dir/nginx.pid;
error_log $dir/error.log notice;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $dir/client_body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    server {
        listen 127.0.0.1:$port;
        location / { return 200 "ok\n"; }
    }
}
CONF
