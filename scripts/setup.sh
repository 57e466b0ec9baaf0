#!/usr/bin/env bash
# Installs what building and testing GrapeDB needs, on Debian 12 or Ubuntu
# 24.04, as root or as a user with sudo. Sourced by run.sh and test.sh: its
# exports (PATH, CARGO_TARGET_DIR) carry into them and into `cargo test`.
#   - apt packages, only those missing (one `apt-get update`, only then);
#   - Rust through rustup when there is no cargo; cargo must be at least
#     Cargo.toml's rust-version;
#   - the Python test clients, pinned in tests/python/requirements.txt, in a
#     virtual environment at ${GRAPEDB_VENV:-$HOME/.cache/grapedb-venv}
#     (rebuilt only when that file changes), whose bin/ goes first on PATH;
#   - the Node.js test clients, pinned in tests/clients/node/package-lock.json,
#     in tests/clients/node/node_modules (npm ci, again only when it changes).
# Idempotent, and silent and offline when everything is already there.
set -euo pipefail

_grape_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

_grape_die() {
  echo "setup.sh: $*" >&2
  exit 1
}

# True when the Debian package is installed (not merely known to dpkg).
_grape_has_pkg() {
  [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

_grape_apt() {
  hash -r # forget command locations this shell cached before (sourced twice)
  local need=()
  command -v clang >/dev/null 2>&1 || need+=(clang)
  _grape_has_pkg libclang-dev || need+=(libclang-dev)
  { command -v psql && command -v pg_dump; } >/dev/null 2>&1 || need+=(postgresql-client)
  { command -v cc >/dev/null 2>&1 && command -v c++ >/dev/null 2>&1; } || need+=(build-essential)
  command -v curl >/dev/null 2>&1 || need+=(curl)
  # Node.js 18 or later and npm for tests/clients/node (node-postgres).
  command -v node >/dev/null 2>&1 || need+=(nodejs)
  command -v npm >/dev/null 2>&1 || need+=(npm)
  # A JDK (java runs tests/clients/jdbc/*.java as source files) and pgjdbc.
  command -v javac >/dev/null 2>&1 || need+=(default-jdk-headless)
  _grape_has_pkg libpostgresql-jdbc-java || need+=(libpostgresql-jdbc-java)
  _grape_has_pkg ca-certificates || need+=(ca-certificates)
  if ! command -v python3 >/dev/null 2>&1; then
    need+=(python3 python3-venv)
  elif ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    # Debian and Ubuntu ship `python3 -m venv`'s ensurepip separately, in
    # the package named after the interpreter's version (python3.11-venv on
    # Debian 12, python3.12-venv on Ubuntu 24.04).
    local venv_pkg
    venv_pkg="$(python3 -c 'import sys; print("python3.%d-venv" % sys.version_info[1])' 2>/dev/null)" ||
      venv_pkg=python3-venv
    need+=("$venv_pkg")
  fi
  [ ${#need[@]} -eq 0 ] && return 0

  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 ||
      _grape_die "missing packages: ${need[*]}. Install them as root" \
        "(apt-get update && apt-get install -y ${need[*]}) and run this again."
    sudo=(sudo)
  fi
  command -v apt-get >/dev/null 2>&1 ||
    _grape_die "missing packages: ${need[*]}; this script installs them with" \
      "apt-get (Debian 12, Ubuntu 24.04), which this system does not have."
  echo "setup.sh: installing ${need[*]}" >&2
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
  hash -r
}

_grape_rust() {
  local cargo_env="${CARGO_HOME:-$HOME/.cargo}/env"
  # rustup installed earlier but not yet on this shell's PATH.
  if ! command -v cargo >/dev/null 2>&1 && [ -f "$cargo_env" ]; then
    # shellcheck source=/dev/null
    source "$cargo_env"
  fi
  if ! command -v cargo >/dev/null 2>&1; then
    echo "setup.sh: no cargo; installing Rust with rustup" >&2
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal ||
      _grape_die "installing Rust with rustup failed (see above)"
    # shellcheck source=/dev/null
    source "$cargo_env"
  fi
  command -v cargo >/dev/null 2>&1 || _grape_die "cargo is still not on PATH after installing rustup"

  local want have
  want="$(sed -n 's/^rust-version *= *"\([0-9][0-9.]*\)".*/\1/p' "$_grape_root/Cargo.toml" | head -n1)"
  [ -n "$want" ] || return 0
  have="$(cargo --version | sed -n 's/^cargo \([0-9]*\.[0-9]*\)[.0-9]*.*/\1/p')"
  if [ -z "$have" ] || [ "$(printf '%s\n%s\n' "$want" "$have" | sort -V | head -n1)" != "$want" ]; then
    _grape_die "GrapeDB needs Rust (cargo) >= $want (rust-version in Cargo.toml)," \
      "but $(command -v cargo) is: $(cargo --version). With rustup, run" \
      "'rustup update stable'; a distribution's cargo is too old: remove it and" \
      "run this again to get rustup."
  fi
}

_grape_venv() {
  local venv="${GRAPEDB_VENV:-$HOME/.cache/grapedb-venv}"
  local req="$_grape_root/tests/python/requirements.txt"
  local stamp="$venv/.grapedb-requirements.sha256"
  local hash
  hash="$(sha256sum "$req" | cut -d' ' -f1)"
  if ! "$venv/bin/python" -c '' >/dev/null 2>&1 ||
    [ "$(cat "$stamp" 2>/dev/null)" != "$hash" ]; then
    echo "setup.sh: installing the pinned Python test clients into $venv" >&2
    # The interpreter to build it from: python3 on PATH, but not this venv's
    # own (when sourced twice). --clear: the venv holds exactly the pins.
    local py
    py="$(PATH="${PATH//"$venv/bin:"/}" command -v python3)" ||
      _grape_die "python3 not found"
    "$py" -m venv --clear "$venv"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$req"
    echo "$hash" >"$stamp"
  fi
  case ":$PATH:" in
    *":$venv/bin:"*) ;;
    *) PATH="$venv/bin:$PATH" ;;
  esac
  export PATH
  hash -r
}

_grape_node() {
  local dir="$_grape_root/tests/clients/node"
  local stamp="$dir/node_modules/.grapedb-lock.sha256"
  local hash
  hash="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$hash" ]; then
    echo "setup.sh: installing the pinned Node.js test clients into $dir/node_modules" >&2
    npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error >/dev/null
    echo "$hash" >"$stamp"
  fi
}

_grape_apt
_grape_rust
_grape_venv
_grape_node
unset -f _grape_die _grape_has_pkg _grape_apt _grape_rust _grape_venv _grape_node
unset _grape_root

# One target directory shared by every build, session and CI run.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/grapedb-target}"
