# Sourced by the example pipelines: finds the plugin and makes a demo scene.
#   SCENE   folder with prompt.wav (the machine's voice), caller.wav (the
#           user's voice) and mic.wav (caller + the prompt's echo in a room),
#           all 16 kHz mono; made with espeak-ng and sox when missing.
#   OUT     where the examples write their results.
set -euo pipefail
_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
_root=$(cd "$_here/.." && pwd)
export GST_PLUGIN_PATH="${GST_PLUGIN_PATH:-$_root/target/release}"
if ! gst-inspect-1.0 bargeinaec >/dev/null 2>&1; then
    echo "bargein plugin not found in $GST_PLUGIN_PATH: run 'bash scripts/setup.sh && cargo build --release' first" >&2
    exit 1
fi
SCENE=${SCENE:-$_root/out/scene}
OUT=${OUT:-$_root/out/pipelines}
mkdir -p "$SCENE" "$OUT"

if [ ! -s "$SCENE/mic.wav" ]; then
    tmp=$(mktemp -d)
    espeak-ng -v en-us+f3 -w "$tmp/p.wav" \
        "Welcome to ABC Bank. For account balance, press 1. For recent transactions, press 2."
    espeak-ng -v en-us -w "$tmp/c.wav" "Customer service"
    sox "$tmp/p.wav" -r 16000 -c 1 -b 16 "$SCENE/prompt.wav" pad 0.5 0 norm -6
    # The caller starts 2.5 s into the call, over the prompt.
    sox "$tmp/c.wav" -r 16000 -c 1 -b 16 "$SCENE/caller.wav" pad 2.5 0 norm -9
    # The prompt's echo: 40 ms late, reverberant, 6 dB down; plus the caller.
    sox "$SCENE/prompt.wav" "$tmp/echo.wav" pad 0.04 0 reverb 40 50 60 vol 0.5
    sox -m "$tmp/echo.wav" "$SCENE/caller.wav" "$SCENE/mic.wav"
    rm -rf "$tmp"
fi
