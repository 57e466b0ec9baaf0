#!/usr/bin/env bash
# Sets up and runs the whole test suite (unit, integration, sqllogictest, psql, durability).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
cargo build --bin grapedb
cargo test --lib
cargo test --test it -- --test-threads=2
