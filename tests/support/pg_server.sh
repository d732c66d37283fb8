#!/bin/sh
# A throw-away PostgreSQL server for the tests: Debian's postgresql-15, its data in DIR, listening on
# a free loopback port (and a socket in DIR), trust authentication for the user "relaylink".
#   pg_server.sh start DIR   initdb + start; writes the URL to DIR/url and prints it
#   pg_server.sh stop DIR    stop it and remove DIR
# As root, the server runs as the "postgres" user (PostgreSQL refuses to run as root).
# TLS on (self-signed for 127.0.0.1, trusted via DIR/ca.pem); plain connections are accepted too.
# Test settings: fsync off (a crashed test server is thrown away anyway); PG_SERVER_DURABLE=1 keeps
# PostgreSQL's own (fsync, full-page writes: what a benchmark of commits must pay). Exit 3: not installed.
set -eu
cmd=${1:?usage: pg_server.sh start|stop DIR}
dir=${2:?usage: pg_server.sh start|stop DIR}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  echo "pg_server.sh: no PostgreSQL server found under /usr/lib/postgresql (Debian: apt-get install postgresql-15)" >&2
  exit 3
fi
as=""
if [ "$(id -u)" = 0 ]; then as="runuser -u postgres --"; fi

stop() {
  if [ -f "$dir/data/postmaster.pid" ]; then
    $as "$bin/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
  fi
}

case $cmd in
start)
  stop
  rm -rf "$dir"
  mkdir -p "$dir"
  if [ -n "$as" ]; then chown postgres "$dir"; fi
  $as "$bin/initdb" -D "$dir/data" -A trust -U relaylink --no-sync -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
    { cat "$dir/initdb.log" >&2; exit 1; }
  # TLS: a self-signed certificate for 127.0.0.1 and localhost; DIR/ca.pem is what clients trust.
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=relaylink-test-postgres \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout "$dir/server.key" -out "$dir/ca.pem" >/dev/null 2>&1 ||
    { echo "pg_server.sh: openssl could not make a test certificate" >&2; exit 1; }
  cp "$dir/ca.pem" "$dir/data/server.crt"
  cp "$dir/server.key" "$dir/data/server.key"
  chmod 600 "$dir/data/server.key"
  if [ -n "$as" ]; then chown postgres "$dir/data/server.crt" "$dir/data/server.key"; fi
  durability="-c fsync=off -c full_page_writes=off"
  if [ "${PG_SERVER_DURABLE:-0}" = 1 ]; then durability=""; fi
  for attempt in 1 2 3; do
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    if $as "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c ssl=on $durability -c max_connections=300" \
        start >/dev/null 2>&1; then
      url="postgresql://relaylink@127.0.0.1:$port/postgres"
      echo "$url" >"$dir/url"
      echo "$url"
      exit 0
    fi
  done
  cat "$dir/server.log" >&2
  exit 1
  ;;
stop)
  stop
  rm -rf "$dir"
  ;;
*)
  echo "pg_server.sh: unknown command '$cmd' (start or stop)" >&2
  exit 2
  ;;
esac
