#!/usr/bin/env bash
# Leak check (issue 8): runs a representative robustness test (the bargeinaec
# fuzz, which exercises caps changes, flushes, EOS, relinking-like resets and
# the WebRTC/resampler state) under valgrind memcheck and reports the bytes
# "definitely lost" whose stack passes through our code (gstbargein).
# GLib/GStreamer type registrations and one-time caches show up as "still
# reachable" or "possibly lost" and are not counted.
# Usage: bash scripts/leakcheck.sh [test-name]   (needs valgrind: apt-get install valgrind)
# Size: BARGEIN_FUZZ_SCALE multiplies a fuzz test's operations per seed and
# BARGEIN_FUZZ_SEEDS sets its number of seeds (defaults: the test's own);
# watchdogs are stretched (BARGEIN_WATCHDOG_SCALE, default 100 here) because
# memcheck runs the code tens to hundreds of times slower.
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
[ -n "$BIN" ] || { echo "could not build tests/robustness.rs" >&2; exit 2; }
LOG=$(mktemp /tmp/leakcheck.XXXXXX.log)
OUT="${LOG%.log}.out"
export BARGEIN_WATCHDOG_SCALE="${BARGEIN_WATCHDOG_SCALE:-100}"
echo "valgrind: $TEST (BARGEIN_FUZZ_SCALE=${BARGEIN_FUZZ_SCALE:-1}, BARGEIN_FUZZ_SEEDS=${BARGEIN_FUZZ_SEEDS:-default})"
START=$(date +%s)
# GLib's slice allocator and GStreamer's registry fork confuse memcheck.
# (Exit status 1 from memcheck's --errors-for-leak-kinds is judged below.)
G_SLICE=always-malloc GST_REGISTRY_FORK=no valgrind --leak-check=full --show-leak-kinds=definite \
  --errors-for-leak-kinds=definite --num-callers=40 --log-file="$LOG" \
  "$BIN" --exact "$TEST" --test-threads=1 >"$OUT" 2>&1 || true
echo "took $(( $(date +%s) - START )) s"
python3 - "$LOG" "$OUT" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
out = open(sys.argv[2]).read()
# A test that failed or never ran under valgrind proves nothing about leaks.
if not re.search(r"test result: ok\. 1 passed", out):
    print(out[-3000:])
    print(f"the test did not pass under valgrind (output: {sys.argv[2]})")
    sys.exit(2)
blocks = re.split(r"\n==\d+== \n", text)
ours = total = 0
for b in blocks:
    # "N bytes in …" or, when it holds other lost blocks, "N (D direct, I
    # indirect) bytes in …": count both.
    m = re.search(r"([\d,]+) (?:\([\d,]+ direct, [\d,]+ indirect\) )?bytes in [\d,]+ blocks are definitely lost", b)
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
