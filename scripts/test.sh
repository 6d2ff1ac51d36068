#!/usr/bin/env bash
# Install (first time) and run the whole test suite against real services: embedded PostgreSQL+pgvector and
# Redis under .data/test (or DATABASE_URL / REDIS_URL), real Celery worker processes, the real model.
# Also runs ruff, mypy and the import-layering contracts (lint-imports). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh dev
# The browser tests drive Debian's Chromium; the translation check uses GNU gettext. Install them once.
if ! command -v chromium >/dev/null || ! command -v msgmerge >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "Installing chromium, chromium-driver and gettext (apt) ..."
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver gettext >/dev/null \
      || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver gettext >/dev/null; }
  else
    echo "Please install chromium, chromium-driver and gettext (the browser and translation tests need them)." >&2
  fi
fi
export DJANGO_SETTINGS_MODULE=config.settings_test

stop_embedded() { .venv/bin/python manage.py embedded stop >/dev/null 2>&1 || true; }
if [ -z "${DATABASE_URL:-}${REDIS_URL:-}" ]; then trap stop_embedded EXIT; fi

echo "== ruff"; .venv/bin/ruff check .
echo "== mypy"; .venv/bin/mypy rag governance inference config
echo "== import layers"; .venv/bin/lint-imports --no-cache
echo "== pytest"
pytest_args=()
[ "${CI:-}" = true ] && pytest_args+=(--create-db)
.venv/bin/python -m pytest "${pytest_args[@]}" "$@"
