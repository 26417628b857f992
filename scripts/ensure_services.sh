#!/usr/bin/env bash
# Make sure the local PostgreSQL and Redis that the service tests use are up.
#
# Checks 127.0.0.1:5432 and 127.0.0.1:6379 (or REUCID_TEST_PG_HOST/PORT, REUCID_TEST_REDIS_PORT)
# and starts a stopped server the way Debian's packages install it. Exits non-zero, saying
# which one, when a service is still down afterwards.
set -u
PG_HOST=${REUCID_TEST_PG_HOST:-127.0.0.1}
PG_PORT=${REUCID_TEST_PG_PORT:-5432}
REDIS_PORT=${REUCID_TEST_REDIS_PORT:-6379}

say() { echo "ensure_services.sh: $*" >&2; }

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

wait_for_port() {
  for _ in $(seq 1 30); do
    port_open "$1" "$2" && return 0
    sleep 1
  done
  return 1
}

status=0

if ! port_open "$PG_HOST" "$PG_PORT"; then
  say "PostgreSQL is not answering on $PG_HOST:$PG_PORT; starting it."
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    for version in $(ls /etc/postgresql); do
      pg_ctlcluster --skip-systemctl-redirect "$version" main start >/dev/null 2>&1 || true
    done
  fi
  if ! wait_for_port "$PG_HOST" "$PG_PORT"; then
    say "PostgreSQL is still down (install postgresql or set DATABASE_URL to a running server)."
    status=1
  fi
fi

if ! port_open 127.0.0.1 "$REDIS_PORT"; then
  say "Redis is not answering on 127.0.0.1:$REDIS_PORT; starting it."
  if command -v redis-server >/dev/null 2>&1; then
    mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" \
      --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log >/dev/null 2>&1 || true
  fi
  if ! wait_for_port 127.0.0.1 "$REDIS_PORT"; then
    say "Redis is still down (install redis-server or set CELERY_BROKER_URL to a running broker)."
    status=1
  fi
fi

exit $status
