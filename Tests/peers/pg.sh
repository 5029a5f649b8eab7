#!/usr/bin/env bash
# A throwaway PostgreSQL server on 127.0.0.1 for the tests: `pg.sh start DIR [PORT]` prints the URL to export as
# CLAWC_TEST_POSTGRES; `pg.sh stop DIR` stops it at once (`pg_ctl stop -m immediate`, as a crash would);
# `pg.sh resume DIR [PORT]` starts the same server again. initdb and postgres refuse to run as root, so as root the server
# runs as a dedicated user, `clawc-pg` (made if missing).
#
# The server listens on TCP only, needs a password (SCRAM-SHA-256) and offers TLS with a certificate from a CA made
# here, so the tests can connect with sslmode=verify-full and DIR/ca.crt. It logs every statement
# (log_statement=all, log_min_duration_statement=0) into DIR/server.log: the PostgreSQL credential tests grep it for passwords.
set -euo pipefail

cmd=${1:?usage: pg.sh start DIR [PORT] | pg.sh stop DIR}
dir=${2:?usage: pg.sh start DIR [PORT] | pg.sh stop DIR}
port=${3:-54329}

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$bin" ] || { echo "pg.sh: PostgreSQL is not installed (Debian: apt-get install postgresql)" >&2; exit 1; }

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u clawc-pg -- "$@"; else "$@"; fi
}

run_server() {
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start -o "-k $dir -p $port -c listen_addresses=127.0.0.1 \
    -c ssl=on -c ssl_cert_file=$dir/server.crt -c ssl_key_file=$dir/server.key \
    -c max_connections=300 -c log_statement=all -c log_min_duration_statement=0 -c fsync=on" >"$dir/pg_ctl.log" 2>&1 \
    || { cat "$dir/pg_ctl.log" "$dir/server.log" >&2; exit 1; }
}

case "$cmd" in
start)
  if [ "$(id -u)" = 0 ] && ! id clawc-pg >/dev/null 2>&1; then
    useradd --system --no-create-home --shell /usr/sbin/nologin clawc-pg
  fi
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  # The CA and the server's certificate, for the name localhost only (not 127.0.0.1): the tests check that
  # verify-full refuses the address while verify-ca accepts it.
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=clawc test CA" \
    -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
  printf 'subjectAltName=DNS:localhost\n' > "$dir/san.ext"
  openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial -days 2 \
    -extfile "$dir/san.ext" -out "$dir/server.crt" 2>/dev/null
  printf 'clawc-test-password\n' > "$dir/pwfile"
  if [ "$(id -u)" = 0 ]; then chown -R clawc-pg "$dir"; fi
  chmod 700 "$dir"
  chmod 600 "$dir/server.key"
  as_owner "$bin/initdb" -D "$dir/data" -U clawc --pwfile="$dir/pwfile" --auth-local=scram-sha-256 \
    --auth-host=scram-sha-256 -E UTF8 --no-sync >"$dir/initdb.log" 2>&1
  run_server
  echo "postgres://clawc:clawc-test-password@127.0.0.1:$port/postgres"
  ;;
resume)
  dir=$(cd "$dir" && pwd)
  run_server
  ;;
stop)
  as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  ;;
*)
  echo "pg.sh: unknown command \`$cmd\`" >&2; exit 2
  ;;
esac
