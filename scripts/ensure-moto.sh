#!/usr/bin/env bash
# Installs moto's S3 server (the stand-in S3 service of the object-store blob tests) into the
# repository's .tools/python-venv, reusing that virtual environment when it exists, and prints
# the path of its `moto_server` binary. moto is pure Python: it installs from the Python
# package index in seconds, with nothing to compile on a small CI machine.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.tools/python-venv"
MOTO_VERSION="${MOTO_VERSION:-5.2.1}"
if [ ! -x "$venv/bin/python" ]; then
  mkdir -p "$root/.tools"
  python3 -m venv "$venv" >&2
fi
if [ ! -x "$venv/bin/moto_server" ] \
  || ! "$venv/bin/python" -c "import moto, flask, flask_cors" >/dev/null 2>&1; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "moto[server]==$MOTO_VERSION" >&2
fi
echo "$venv/bin/moto_server"
