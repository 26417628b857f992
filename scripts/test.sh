#!/usr/bin/env bash
# README's second command: the whole test suite, twice.
#
#   bash scripts/test.sh [pytest arguments]
#
# Pass 1, embedded default: SQLite and Celery tasks run eagerly (what a laptop has).
# Pass 2, services: PostgreSQL (127.0.0.1:5432), Redis (127.0.0.1:6379, database 15) and a
#   real `celery worker` process that tests/services/ starts itself; the `services` tests send
#   a denoise job and a small retraining job through the broker end to end. Every other test
#   that touches the database runs again on PostgreSQL (its tasks still eager); tests that
#   never touch it (the numerical core, pure helpers) and browser tests run only in pass 1
#   (REUCID_TEST_SCOPE=all runs the tests that do not touch the database there too).
#
# REUCID_TEST_SERVICES=0 skips pass 2 (say so loudly); REUCID_TEST_DATABASE_URL and
# REUCID_TEST_BROKER_URL point pass 2 at other servers (e.g. amqp://guest:guest@127.0.0.1//).
# Exits non-zero if any pass fails; a pass that collects no test counts as passed.
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh || { echo "test.sh: scripts/setup.sh failed" >&2; exit 1; }
. .venv/bin/activate
if [ -f scripts/install_browser.sh ]; then
  bash scripts/install_browser.sh
fi

REPORTS=test-artifacts
mkdir -p "$REPORTS"
rm -f "$REPORTS"/pass-*.xml

# Variables of the site that must not leak from the caller's shell into a pass.
SITE_VARIABLES=(DATABASE_URL CELERY_BROKER_URL CELERY_RESULT_BACKEND CELERY_TASK_ALWAYS_EAGER
  DJANGO_DEBUG MEDIA_ROOT STATIC_ROOT REUCID_STORAGE REUCID_TEST_SCOPE)
unset_site=()
for name in "${SITE_VARIABLES[@]}"; do unset_site+=(-u "$name"); done

# WhiteNoise serves static files from STATIC_ROOT when DEBUG is off, as in production.
env "${unset_site[@]}" python manage.py collectstatic --noinput -v 0 || exit 1

run_pass() {  # run_pass NAME [env assignments...] -- [pytest arguments...]
  local name=$1; shift
  local assignments=()
  while [ "$1" != "--" ]; do assignments+=("$1"); shift; done
  shift
  env "${unset_site[@]}" ${assignments[@]+"${assignments[@]}"} python -m pytest "$@" \
    --junitxml="$REPORTS/pass-$name.xml" -o junit_family=xunit2
  local rc=$?
  if [ "$rc" = "5" ]; then
    echo "test.sh: pass '$name' collected no tests; counted as passed."
    rc=0
  fi
  return "$rc"
}

echo "=== pass 1/2: embedded default (SQLite, Celery eager) ==="
run_pass embedded -- "$@"
rc_embedded=$?

rc_services=0
if [ "${REUCID_TEST_SERVICES:-1}" = "0" ]; then
  echo "=== pass 2/2 SKIPPED (REUCID_TEST_SERVICES=0): PostgreSQL, broker and worker untested ==="
else
  echo "=== pass 2/2: services (PostgreSQL, Redis, a real Celery worker) ==="
  DATABASE_URL_FOR_TESTS=${REUCID_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/reucid}
  BROKER_URL_FOR_TESTS=${REUCID_TEST_BROKER_URL:-redis://127.0.0.1:6379/15}
  if [ -z "${REUCID_TEST_DATABASE_URL:-}${REUCID_TEST_BROKER_URL:-}" ]; then
    bash scripts/ensure_services.sh || rc_services=1
  fi
  if [ "$rc_services" = "0" ]; then
    # The database named in the URL must exist for Django to connect before it makes test_<name>.
    DATABASE_URL="$DATABASE_URL_FOR_TESTS" python scripts/ensure_database.py || rc_services=1
  fi
  if [ "$rc_services" = "0" ]; then
    run_pass services DATABASE_URL="$DATABASE_URL_FOR_TESTS" \
      CELERY_BROKER_URL="$BROKER_URL_FOR_TESTS" CELERY_TASK_ALWAYS_EAGER=1 \
      REUCID_TEST_SCOPE="${REUCID_TEST_SCOPE:-database}" -- -m "not browser" "$@"
    rc_services=$?
  else
    echo "test.sh: pass 2 could not start: PostgreSQL or the broker is not reachable." >&2
  fi
fi

python scripts/junit_totals.py "embedded=$REPORTS/pass-embedded.xml" \
  "services=$REPORTS/pass-services.xml"
if [ "$rc_embedded" != "0" ] || [ "$rc_services" != "0" ]; then
  echo "test.sh: FAILED (embedded pass exit $rc_embedded, services pass exit $rc_services)"
  exit 1
fi
exit 0
