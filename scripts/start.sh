#!/usr/bin/env bash
# README's first command: a working REUCID site on this machine, with nothing else installed.
#
#   bash scripts/start.sh            # http://127.0.0.1:8000 (PORT=8080 to change)
#
# Installs the project (scripts/setup.sh), applies migrations, registers the shipped model,
# seeds the demo survey, makes an admin account if there is none, starts one local Celery
# worker per queue on a broker that needs no service (kombu's filesystem transport, folders
# under var/broker), and serves the site through gunicorn (backlog 2048) with DEBUG on; DEBUG's
# technical pages only ever go to this machine (reucid_site.errors). The signing key is made
# once, under var/secret_key. Ctrl-C stops the site and the workers.
#
# Environment: PORT, HOST (default 127.0.0.1), REUCID_SERVER=runserver (default: gunicorn),
# REUCID_EAGER=1 (no workers: jobs run inside the web request), DJANGO_SUPERUSER_USERNAME and
# DJANGO_SUPERUSER_PASSWORD (the admin account to create), and every variable of README's
# configuration table (DATABASE_URL, CELERY_BROKER_URL, ...).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
. .venv/bin/activate

export DJANGO_DEBUG=${DJANGO_DEBUG:-1}
if [ "${REUCID_EAGER:-0}" = "1" ]; then
  unset CELERY_BROKER_URL
  export CELERY_TASK_ALWAYS_EAGER=1
else
  export CELERY_BROKER_URL=${CELERY_BROKER_URL:-filesystem://localhost/}
fi
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
# The survey's join limit is counted here, shared by every gunicorn worker.
export REUCID_CACHE_URL=${REUCID_CACHE_URL:-file://$PWD/var/cache}
mkdir -p var/log

say() { echo "start.sh: $*"; }

python manage.py migrate --noinput -v 0
python manage.py collectstatic --noinput -v 0
python manage.py register_shipped_model
python manage.py seed_survey_demo
python manage.py reblind_survey_images

if ! python manage.py shell -v 0 -c "
import sys
from django.contrib.auth import get_user_model
sys.exit(0 if get_user_model().objects.filter(is_superuser=True).exists() else 1)
"; then
  export DJANGO_SUPERUSER_USERNAME=${DJANGO_SUPERUSER_USERNAME:-admin}
  export DJANGO_SUPERUSER_EMAIL=${DJANGO_SUPERUSER_EMAIL:-admin@localhost}
  generated=0
  if [ -z "${DJANGO_SUPERUSER_PASSWORD:-}" ]; then
    DJANGO_SUPERUSER_PASSWORD=$(python -c "import secrets; print(secrets.token_urlsafe(12))")
    export DJANGO_SUPERUSER_PASSWORD
    generated=1
  fi
  python manage.py createsuperuser --noinput -v 0
  say "created the admin account '$DJANGO_SUPERUSER_USERNAME'."
  if [ "$generated" = "1" ]; then
    say "its password, shown only now: $DJANGO_SUPERUSER_PASSWORD"
    say "(change it at http://$HOST:$PORT/admin/password_change/ or with"
    say " 'python manage.py changepassword $DJANGO_SUPERUSER_USERNAME')"
  fi
fi

# Everything this script starts in the background; stopped (TERM, then waited for) on exit.
# (The ${a[@]+"${a[@]}"} form keeps `set -u` happy with an empty array on macOS's bash 3.2.)
child_pids=()
stop_children() {
  for pid in ${child_pids[@]+"${child_pids[@]}"}; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in ${child_pids[@]+"${child_pids[@]}"}; do
    wait "$pid" 2>/dev/null || true
  done
  child_pids=()
}
trap stop_children EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ "${CELERY_TASK_ALWAYS_EAGER:-0}" != "1" ]; then
  # One worker per queue, so a retraining run never holds up a user's upload. The denoise
  # worker also runs beat, which requeues jobs whose worker died.
  for queue in denoise training; do
    beat=()
    if [ "$queue" = "denoise" ]; then beat=(-B --schedule var/celerybeat-schedule); fi
    python -m celery -A reucid_site worker -Q "$queue" -c 1 -n "$queue@%h" \
      --without-gossip --without-mingle -l INFO ${beat[@]+"${beat[@]}"} \
      >>"var/log/worker-$queue.log" 2>&1 &
    child_pids+=($!)
  done
  say "Celery workers for the denoise and training queues log to var/log/worker-*.log."
else
  say "no broker: jobs run inside the web request (eager mode)."
fi

say "REUCID at http://$HOST:$PORT/ (admin: /admin/, health: /health/); Ctrl-C stops it."
if [ "${REUCID_SERVER:-gunicorn}" = "runserver" ]; then
  # Development only: runserver queues 10 connections and resets the rest of a burst.
  python manage.py runserver "$HOST:$PORT" --noreload &
else
  GUNICORN_BIND="$HOST:$PORT" gunicorn reucid_site.wsgi &
fi
server_pid=$!
child_pids+=("$server_pid")
# Waiting on the server in the background keeps this shell free to run its traps on Ctrl-C.
wait "$server_pid"
