#!/usr/bin/env bash
# Install (first time) and run Emanet at http://127.0.0.1:8000: web + Celery worker, embedded PostgreSQL
# and Redis under .data/ unless DATABASE_URL / REDIS_URL are set. Extra arguments go to `manage.py serve`.
# Safe to leave running: DEBUG=false, secrets generated once under .data/, plain error pages. Developer mode
# (debug pages): scripts/run.sh --dev. On a network address, put a TLS proxy in front and set HTTPS=true.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh run
exec .venv/bin/python manage.py serve "$@"
