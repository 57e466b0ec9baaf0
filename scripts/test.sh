#!/usr/bin/env bash
# Sets up and runs the whole test suite: the layer check, unit tests, and the
# integration tests (drivers, sqllogictest, psql, durability).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
# Each module imports only modules below it, with no cycles (docs/architecture.md).
python3 scripts/check_layers.py
cargo build --bin grapedb
cargo test --lib
cargo test --test it -- --test-threads=2
