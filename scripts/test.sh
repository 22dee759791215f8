#!/usr/bin/env bash
# The test command: installs what is missing (scripts/setup.sh), then checks
# formatting and lints and runs every test. Everything builds in the release
# profile so WebRTC and tract are compiled once for tests, benches and demo.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
# shellcheck disable=SC1091
. "${BARGEIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gst-bargein}/env.sh"

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --release --all-targets -- -D warnings
echo "== cargo build (the plugin itself: the example pipelines and the Python app load it)"
cargo build --release
echo "== cargo test"
# fatal_warnings turns GLib criticals (e.g. a bad property access) into test failures.
# Benches (harness = false) are built by clippy above but not run here: they are
# measurements, not tests (`cargo bench`).
G_DEBUG=fatal_warnings cargo test --release --lib --tests --examples "$@"
