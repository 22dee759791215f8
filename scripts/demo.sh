#!/usr/bin/env bash
# The main job: installs what is missing, builds the plugin and runs the
# banking-IVR barge-in demo (two scenes). Writes WAVs and timelines to out/demo/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
# shellcheck disable=SC1091
. "${BARGEIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gst-bargein}/env.sh"
cargo build --release --quiet
exec cargo run --release --quiet --example demo -- "$@"
