#!/usr/bin/env bash
# Leak check (issue 8): runs a representative robustness test (the bargeinaec
# fuzz, which exercises caps changes, flushes, EOS, relinking-like resets and
# the WebRTC/resampler state) under valgrind memcheck and reports the bytes
# "definitely lost" whose stack passes through our code (gstbargein).
# GLib/GStreamer type registrations and one-time caches show up as "still
# reachable" or "possibly lost" and are not counted.
# Usage: bash scripts/leakcheck.sh [test-name]   (needs valgrind: apt-get install valgrind)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck disable=SC1091
. "${BARGEIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gst-bargein}/env.sh"
command -v valgrind >/dev/null || { echo "valgrind is not installed: apt-get install valgrind" >&2; exit 2; }
TEST="${1:-fuzz_bargeinaec}"
BIN=$(cargo test --release --test robustness --no-run --message-format=json 2>/dev/null \
  | python3 -c 'import sys,json
for l in sys.stdin:
    m=json.loads(l)
    if m.get("reason")=="compiler-artifact" and m.get("target",{}).get("name")=="robustness" and m.get("executable"):
        print(m["executable"])' | tail -1)
LOG=$(mktemp /tmp/leakcheck.XXXXXX.log)
# GLib's slice allocator and GStreamer's registry fork confuse memcheck.
G_SLICE=always-malloc GST_REGISTRY_FORK=no valgrind --leak-check=full --show-leak-kinds=definite \
  --errors-for-leak-kinds=definite --num-callers=40 --log-file="$LOG" \
  "$BIN" --exact "$TEST" --test-threads=1 >/dev/null 2>&1 || true
python3 - "$LOG" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
blocks = re.split(r"\n==\d+== \n", text)
ours = total = 0
for b in blocks:
    m = re.search(r"([\d,]+) bytes in [\d,]+ blocks are definitely lost", b)
    if not m:
        continue
    n = int(m.group(1).replace(",", ""))
    total += n
    if "gstbargein" in b:
        ours += n
        print(b)
summ = re.search(r"definitely lost: ([\d,]+) bytes", text)
print(f"definitely lost in total: {summ.group(1) if summ else '?'} bytes; "
      f"with gstbargein on the stack: {ours} bytes (log: {sys.argv[1]})")
sys.exit(1 if ours else 0)
PY
