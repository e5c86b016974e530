#!/usr/bin/env bash
# Idempotent setup for a fresh Debian machine: .venv with the package and its test tools,
# plus the real services the tests talk to (redis-server, promtool, PostgreSQL) and the Go-built tools
# (helm, kube-linter) at pinned versions. Stops with one line saying what to install when it can't.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)
# PostgreSQL for the beat's django-celery-beat tests (Debian keeps initdb/postgres off PATH).
{ command -v initdb || ls /usr/lib/postgresql/*/bin/initdb; } >/dev/null 2>&1 || need_apt+=(postgresql)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing ${need_apt[*]} with apt-get" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
    # The Debian packages start system services; the tests start their own on free ports.
    (service redis-server stop || true) >/dev/null 2>&1
    (service prometheus stop || true) >/dev/null 2>&1
    (service postgresql stop || true) >/dev/null 2>&1
  else
    echo "setup: please install the Debian packages: ${need_apt[*]} (apt-get install ${need_apt[*]})" >&2
    exit 1
  fi
fi

PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
  echo "setup: please install Python 3.11 or newer (python3)" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv || { echo "setup: please install the Python venv module (apt-get install python3-venv)" >&2; exit 1; }
fi
# Python packages from the lock only (requirements/dev.txt, exported from uv.lock by
# `make lock`): every version and hash pinned, so a fresh machine installs what CI tested.
stamp=.venv/.shoal-installed
lock_sum=$(cat requirements/dev.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$lock_sum" ]; then
  echo "setup: installing the locked Python packages (requirements/dev.txt)" >&2
  .venv/bin/pip install -q --disable-pip-version-check --require-hashes -r requirements/dev.txt
  # The project itself, editable, built by the locked setuptools (no unpinned build env).
  .venv/bin/pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
  .venv/bin/pip check >&2
  echo "setup: installed $(.venv/bin/pip freeze --exclude-editable | wc -l) packages pinned by requirements/dev.txt (uv.lock sha256 $(sha256sum uv.lock | cut -c1-12))" >&2
  echo "$lock_sum" >"$stamp"
fi

# Go-built tools, pinned, into .tools/bin (ignored by git).
if [ -f scripts/go-tools.sh ]; then
  bash scripts/go-tools.sh
fi
