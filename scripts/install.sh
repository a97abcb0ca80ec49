#!/usr/bin/env bash
# Install everything Heritage Cloud needs to run its demo and its tests, on a
# fresh Debian/Ubuntu machine or a developer's checkout. Idempotent: each step
# is skipped when its inputs did not change since the last run.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

APT_PACKAGES=(
    ca-certificates python3 python3-venv python3-dev build-essential nodejs npm
    postgresql postgresql-contrib redis-server chromium
    libvips-dev libmagic1
    # bench/bench_iiif.py: the vips command and the iipimage-server baseline behind nginx
    libvips-tools iipimage-server nginx
    libegl1 libegl-mesa0 libgl1-mesa-dri  # headless 3D thumbnails (pyrender on EGL)
)
VENV=.venv
PY_STAMP="$VENV/.heritage-pyproject.sha256"
NPM_STAMP=node_modules/.heritage-package-lock.sha256

say() { printf '==> %s\n' "$*"; }
die() { printf 'install.sh: error: %s\n' "$*" >&2; exit 1; }
sha() { sha256sum "$1" | cut -d' ' -f1; }

# --- system packages ----------------------------------------------------------
package_present() {
    # node and npm may come from NodeSource (whose nodejs bundles npm and
    # conflicts with Debian's npm package): accept the commands as well.
    case "$1" in
        nodejs) command -v node >/dev/null 2>&1 && return 0 ;;
        npm) command -v npm >/dev/null 2>&1 && return 0 ;;
    esac
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
}

install_system_packages() {
    if ! command -v dpkg-query >/dev/null 2>&1; then
        say "not a Debian/Ubuntu system: install ${APT_PACKAGES[*]} yourself"
        return
    fi
    local missing=() package
    for package in "${APT_PACKAGES[@]}"; do
        package_present "$package" || missing+=("$package")
    done
    if [ ${#missing[@]} -eq 0 ]; then
        say "system packages: all present"
        return
    fi
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            sudo=(sudo -n)
        else
            say "WARNING: missing system packages: ${missing[*]}"
            say "WARNING: not root and no password-less sudo: install them yourself"
            return
        fi
    fi
    say "apt-get install ${missing[*]}"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# --- Python -------------------------------------------------------------------
python_version() { "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])'; }

install_python() {
    local python
    python="$(command -v python3.11 || command -v python3 || true)"
    [ -n "$python" ] || die "no python3.11 or python3 on PATH: install Python 3.11"
    [ "$(python_version "$python")" = 3.11 ] \
        || die "Python 3.11 is required, but $python is $(python_version "$python")"
    if [ ! -x "$VENV/bin/python" ]; then
        say "creating $VENV with $python"
        "$python" -m venv "$VENV" || die "could not create $VENV (is python3-venv installed? is $VENV writable?)"
    fi
    local venv_version
    venv_version="$(python_version "$VENV/bin/python")"
    [ "$venv_version" = 3.11 ] \
        || die "$VENV uses Python $venv_version, not 3.11: delete $VENV and run again"
    if [ -f "$PY_STAMP" ] && [ "$(cat "$PY_STAMP")" = "$(sha pyproject.toml)" ]; then
        say "Python packages: up to date"
        return
    fi
    say "pip install -e '.[test]'"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -U pip
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e '.[test]'
    sha pyproject.toml >"$PY_STAMP"
}

# --- front-end assets ---------------------------------------------------------
install_assets() {
    command -v npm >/dev/null 2>&1 || die "npm not found (Debian: apt-get install nodejs npm)"
    if [ -f "$NPM_STAMP" ] && [ "$(cat "$NPM_STAMP")" = "$(sha package-lock.json)" ]; then
        say "npm packages: up to date"
    else
        say "npm ci"
        npm ci --no-audit --no-fund --loglevel=error
        sha package-lock.json >"$NPM_STAMP"
    fi
    bash scripts/copy-assets.sh
}

install_system_packages
install_python
install_assets
say "install done"
