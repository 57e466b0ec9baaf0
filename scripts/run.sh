#!/usr/bin/env bash
# Sets up, builds and runs a single GrapeDB node with default settings:
# data in ./grape-data, PostgreSQL clients on 127.0.0.1:5433.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
# The dev profile builds dependencies optimised (see Cargo.toml) and shares
# its build with the tests; use `cargo build --release` for benchmarks.
cargo build --bin grapedb
exec "$CARGO_TARGET_DIR/debug/grapedb" start "$@"
