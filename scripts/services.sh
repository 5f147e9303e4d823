#!/usr/bin/env bash
# Project-local PostgreSQL and Redis on loopback, data under .run/.
#   scripts/services.sh start [--fast]|stop|status
# PostgreSQL runs durable (fsync, synchronous_commit and full_page_writes on), as in
# production, for the demo and the benchmarks. `--fast` (make test, make test-fast only)
# turns the three off: a crash may lose or corrupt the data, which test databases do not
# mind. A server running in the other mode is restarted in the one asked for.
# Nothing system-wide is touched beyond installing a missing server package (as root).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUN="$ROOT/.run"
PG_PORT="${WARDEN_PG_PORT:-54329}"
REDIS_PORT="${WARDEN_REDIS_PORT:-63799}"
PG_USER=warden
PG_DB=warden

say() { printf 'services: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

as_root() { [ "$(id -u)" -eq 0 ]; }

apt_install() {
  as_root || die "$1 is missing and we are not root: install it (apt-get install $*) and retry."
  say "installing $* with apt-get"
  if [ ! -f "$RUN/.apt-updated" ]; then
    apt-get update -qq >/dev/null && mkdir -p "$RUN" && touch "$RUN/.apt-updated"
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

pg_bindir() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$d" ] || [ ! -x "$d/initdb" ]; then
    apt_install postgresql >&2
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  fi
  echo "$d"
}

# PostgreSQL refuses to run as root: as root we run it as the 'postgres' user. That user
# must be able to reach the data directory; when the checkout lives somewhere it cannot
# traverse (a 0700 home), the data goes to a per-checkout directory under /var/tmp.
pg_datadir() {
  local want="$RUN/pgdata"
  if as_root; then
    if [ -L "$want" ]; then readlink "$want"; return; fi
    if [ ! -e "$want" ] && ! su postgres -s /bin/sh -c "test -x '$RUN'" 2>/dev/null; then
      local alt="/var/tmp/warden-pg-$(printf '%s' "$ROOT" | sha1sum | cut -c1-12)"
      mkdir -p "$alt"; chown postgres "$alt"; ln -s "$alt" "$want"
      echo "$alt"; return
    fi
  fi
  echo "$want"
}

run_pg() {  # run a PostgreSQL binary as the right user
  if as_root; then
    su postgres -s /bin/sh -c "$(printf '%q ' "$@")"
  else
    "$@"
  fi
}

pg_start() {
  local mode="$1" bin data log durable opts
  if [ "$mode" = fast ]; then durable=off; else durable=on; fi
  # On the command line, so that they win over postgresql.conf (older clusters set them off there).
  opts="-c fsync=$durable -c synchronous_commit=$durable -c full_page_writes=$durable"
  bin=$(pg_bindir)
  mkdir -p "$RUN"; chmod 755 "$RUN"
  data=$(pg_datadir)
  log="$RUN/postgres.log"
  if as_root; then
    id postgres >/dev/null 2>&1 || apt_install postgresql
    mkdir -p "$data"; chown postgres "$data"; touch "$log"; chown postgres "$log"
    mkdir -p "$RUN/pgsock"; chown postgres "$RUN/pgsock"
  else
    mkdir -p "$data" "$RUN/pgsock"
  fi
  if [ ! -f "$data/PG_VERSION" ]; then
    say "initialising PostgreSQL in $data"
    run_pg "$bin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    cat >> "$data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$RUN/pgsock'
max_connections = 200
shared_buffers = 256MB
CONF
  fi
  local psql="$bin/psql -h 127.0.0.1 -p $PG_PORT -U postgres -d postgres -tAq"
  local label="durable"; [ "$durable" = off ] && label="fast, not durable: tests only"
  if run_pg "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    if [ "$($psql -c 'show fsync' 2>/dev/null)" = "$durable" ]; then
      say "PostgreSQL already running on 127.0.0.1:$PG_PORT ($label)"
    else
      say "restarting PostgreSQL on 127.0.0.1:$PG_PORT ($label)"
      run_pg "$bin/pg_ctl" -D "$data" -l "$log" -m fast -w -t 60 -o "$opts" restart >/dev/null \
        || { tail -n 20 "$log" >&2; die "PostgreSQL did not restart (log: $log)"; }
    fi
  else
    run_pg "$bin/pg_ctl" -D "$data" -l "$log" -w -t 60 -o "$opts" start >/dev/null \
      || { tail -n 20 "$log" >&2; die "PostgreSQL did not start (log: $log)"; }
    say "PostgreSQL on 127.0.0.1:$PG_PORT ($label)"
  fi
  if [ "$($psql -c "select 1 from pg_roles where rolname='$PG_USER'")" != "1" ]; then
    $psql -c "create role $PG_USER login superuser"
  fi
  if [ "$($psql -c "select 1 from pg_database where datname='$PG_DB'")" != "1" ]; then
    $psql -c "create database $PG_DB owner $PG_USER"
  fi
}

pg_stop() {
  local bin data
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  data=$(pg_datadir)
  if [ -n "$bin" ] && [ -f "$data/PG_VERSION" ] && run_pg "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    run_pg "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null && say "PostgreSQL stopped"
  fi
}

redis_start() {
  command -v redis-server >/dev/null 2>&1 || apt_install redis-server
  mkdir -p "$RUN/redis"
  if redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1; then
    say "Redis already running on 127.0.0.1:$REDIS_PORT"; return
  fi
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$RUN/redis" --save "" \
    --appendonly no --daemonize yes --pidfile "$RUN/redis.pid" --logfile "$RUN/redis.log"
  for _ in $(seq 1 50); do
    redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1 && { say "Redis on 127.0.0.1:$REDIS_PORT"; return; }
    sleep 0.1
  done
  die "Redis did not start (log: $RUN/redis.log)"
}

redis_stop() {
  # Only the Redis this checkout started (its pid file), never another one on the port.
  local pid
  pid=$(cat "$RUN/redis.pid" 2>/dev/null || true)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    say "Redis stopped"
  fi
  rm -f "$RUN/redis.pid"
}

case "${1:-}" in
  start)
    case "${2:-}" in
      --fast) pg_start fast ;;
      "") pg_start durable ;;
      *) die "usage: $0 start [--fast]" ;;
    esac
    redis_start ;;
  stop) redis_stop; pg_stop ;;
  status)
    redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | sed 's/^/redis: /' || echo "redis: down"
    pg_isready -h 127.0.0.1 -p "$PG_PORT" || true ;;
  *) die "usage: $0 start [--fast]|stop|status" ;;
esac
