#!/usr/bin/env bash
# Create the Python 2.7 virtualenv holding the Autobahn testsuite (wstest).
#
#   bash conformance/setup_py27.sh
#
# Result: <repo>/.venv27/bin/wstest. Idempotent: does nothing when that wstest already works.
# Needs only PyPI: Python 2.7 comes from pyenv (installed with `pyenv install 2.7.18` if absent),
# the py27 venv is made by virtualenv==20.21.1 (the last release able to create one), which lives
# in a helper Python 3 venv at <repo>/.venv-virtualenv.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
VENV27="${VENV27:-$ROOT/.venv27}"
HELPER="${VIRTUALENV_HELPER:-$ROOT/.venv-virtualenv}"
REQS="$HERE/autobahn-requirements-py27.txt"
PY27_VERSION="${PY27_VERSION:-2.7.18}"

log() { echo "setup_py27: $*" >&2; }
die() { echo "setup_py27: ERROR: $*" >&2; exit 1; }

wstest_works() {
    [ -x "$VENV27/bin/wstest" ] && "$VENV27/bin/wstest" --help >/dev/null 2>&1
}

if wstest_works; then
    log "$VENV27/bin/wstest already works; nothing to do"
    exit 0
fi

# ---- locate a Python 2.7 interpreter ---------------------------------------------------------
is_py27() { [ -x "$1" ] && "$1" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (2, 7) else 1)' >/dev/null 2>&1; }

find_pyenv() {
    if command -v pyenv >/dev/null 2>&1; then command -v pyenv; return 0; fi
    local d
    for d in "${PYENV_ROOT:-}" "$HOME/.pyenv"; do
        if [ -n "$d" ] && [ -x "$d/bin/pyenv" ]; then echo "$d/bin/pyenv"; return 0; fi
    done
    return 1
}

find_py27() {
    local cand roots=() r pyenv_bin
    [ -n "${PY27:-}" ] && { is_py27 "$PY27" && { echo "$PY27"; return 0; }; }
    if pyenv_bin="$(find_pyenv)"; then
        r="$("$pyenv_bin" root 2>/dev/null || true)"
        [ -n "$r" ] && roots+=("$r")
    fi
    [ -n "${PYENV_ROOT:-}" ] && roots+=("$PYENV_ROOT")
    roots+=("$HOME/.pyenv")
    for r in "${roots[@]}"; do
        for cand in "$r/versions/$PY27_VERSION/bin/python" "$r"/versions/2.7*/bin/python; do
            if is_py27 "$cand"; then echo "$cand"; return 0; fi
        done
    done
    for cand in python2.7 python2; do
        if command -v "$cand" >/dev/null 2>&1 && is_py27 "$(command -v "$cand")"; then
            command -v "$cand"; return 0
        fi
    done
    return 1
}

PY27_BIN="$(find_py27 || true)"
if [ -z "$PY27_BIN" ]; then
    if pyenv_bin="$(find_pyenv)"; then
        log "no Python 2.7 found; trying '$pyenv_bin install -s $PY27_VERSION'"
        "$pyenv_bin" install -s "$PY27_VERSION" \
            || die "pyenv install $PY27_VERSION failed (it needs to download CPython sources)"
        PY27_BIN="$(find_py27 || true)"
    fi
fi
[ -n "$PY27_BIN" ] || die "no Python 2.7 interpreter found (looked in \$PY27, \`pyenv root\`, \$PYENV_ROOT, ~/.pyenv/versions/2.7*, python2.7 on PATH) and pyenv is not available to install one"
log "using Python 2.7 at $PY27_BIN"

# ---- helper venv with virtualenv==20.21.1 ---------------------------------------------------
# Any Python 3 with a working venv + ensurepip will do; the project venv's interpreter first.
PY3_FOUND=""
for cand in "${PY3:-}" "$ROOT/.venv/bin/python" python3; do
    [ -n "$cand" ] || continue
    if command -v "$cand" >/dev/null 2>&1 \
        && "$cand" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 7))' >/dev/null 2>&1; then
        PY3_FOUND="$cand"; break
    fi
done
[ -n "$PY3_FOUND" ] || die "no Python 3 with the venv/ensurepip modules found (set PY3=/path/to/python3)"
PY3="$PY3_FOUND"
if ! "$HELPER/bin/python" -c 'import virtualenv, sys; sys.exit(0 if virtualenv.__version__ == "20.21.1" else 1)' >/dev/null 2>&1; then
    log "creating helper venv $HELPER with virtualenv==20.21.1"
    rm -rf "$HELPER"
    "$PY3" -m venv "$HELPER"
    echo '*' > "$HELPER/.gitignore"   # keep the helper venv out of git status
    "$HELPER/bin/pip" install --disable-pip-version-check -q "virtualenv==20.21.1"
fi

[ -f "$HELPER/.gitignore" ] || echo '*' > "$HELPER/.gitignore"

# ---- the py27 venv ---------------------------------------------------------------------------
log "creating $VENV27"
rm -rf "$VENV27"
"$HELPER/bin/virtualenv" -q -p "$PY27_BIN" "$VENV27"
"$VENV27/bin/pip" install --disable-pip-version-check --no-python-version-warning -q -r "$REQS"

wstest_works || die "$VENV27/bin/wstest was installed but 'wstest --help' fails"
log "ready: $VENV27/bin/wstest"
