#!/usr/bin/env bash
# Regenerates the evaluation corpus and the README's "Evaluation results":
#   bash scripts/eval.sh            # 200 scenes, seed 1, plus 1000 scenes, seed 2
#                                   # (open and closed loop), plus 300 echo-free
#                                   # lines, seed 3
#                                   # (about 30 minutes on 2 cores)
#   SCENES=50 BIG_SCENES=0 LINE_SCENES=0 bash scripts/eval.sh  # a quicker look
#   RESCORE=1 bash scripts/eval.sh  # scores the last runs again (after a change
#                                   # to `score`) and rewrites the README block
# The 200-scene corpus gets the per-condition breakdown, the sweep and the
# plot; the 1000-scene one (systems only) narrows the false-interruption
# rates, where one event in 200 scenes moves the rate by 1.5 per hour; the
# echo-free one is telephone callers whose phone cancels its own echo.
# Corpus and results go to $BARGEIN_CACHE/eval (override with EVAL_OUT); the
# sweep's trade-off plot is copied to docs/eval/tradeoff.png.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
# shellcheck disable=SC1091
. "${BARGEIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gst-bargein}/env.sh"

SCENES=${SCENES:-200}
SEED=${SEED:-1}
BIG_SCENES=${BIG_SCENES:-1000}
BIG_SEED=${BIG_SEED:-2}
LINE_SCENES=${LINE_SCENES:-300}
LINE_SEED=${LINE_SEED:-3}
OUT=${EVAL_OUT:-$BARGEIN_CACHE/eval}
cargo build --release --bin bargein-eval
eval_tool() { cargo run -q --release --bin bargein-eval -- "$@"; }

if [ "${RESCORE:-0}" = 1 ]; then
    for r in results big-results big-closed line-results; do
        [ -d "$OUT/$r" ] && eval_tool score --results "$OUT/$r" >/dev/null
    done
else
    rm -rf "$OUT/corpus" "$OUT/results" "$OUT/sweep" "$OUT/big-corpus" "$OUT/big-results" \
        "$OUT/big-closed" "$OUT/line-corpus" "$OUT/line-results"
    mkdir -p "$OUT" docs/eval
    eval_tool generate --out "$OUT/corpus" --seed "$SEED" --scenes "$SCENES"
    eval_tool run --corpus "$OUT/corpus" --out "$OUT/results" --system all
    eval_tool score --results "$OUT/results" >/dev/null
    eval_tool sweep --corpus "$OUT/corpus" --out "$OUT/sweep" >/dev/null
    eval_tool bench --streams 32 >"$OUT/bench.md"
    if [ "$BIG_SCENES" -gt 0 ]; then
        eval_tool generate --out "$OUT/big-corpus" --seed "$BIG_SEED" --scenes "$BIG_SCENES"
        eval_tool run --corpus "$OUT/big-corpus" --out "$OUT/big-results" --system all
        eval_tool score --results "$OUT/big-results" >/dev/null
        # The same scenes with each system hearing the echo of what its
        # ducker let through.
        eval_tool run --corpus "$OUT/big-corpus" --out "$OUT/big-closed" \
            --system ours,pipecat,livekit --closed-loop true
        eval_tool score --results "$OUT/big-closed" >/dev/null
    fi
    if [ "$LINE_SCENES" -gt 0 ]; then
        eval_tool generate --out "$OUT/line-corpus" --seed "$LINE_SEED" --scenes "$LINE_SCENES" \
            --echo-free-share 1
        eval_tool run --corpus "$OUT/line-corpus" --out "$OUT/line-results" --system all
        eval_tool score --results "$OUT/line-results" >/dev/null
    fi
    cp "$OUT/sweep/tradeoff.png" docs/eval/tradeoff.png
fi

# The README block: the systems table and our detector by condition (the
# score report up to the next system's breakdown), the sweep, the bench.
block="$OUT/readme-block.md"
{
    echo "<!-- eval-results:begin (written by scripts/eval.sh; edit there) -->"
    echo "Corpus: \`bargein-eval generate --seed $SEED --scenes $SCENES\` ($(date -u +%Y-%m-%d), $(nproc) cores)."
    echo
    awk 'NR > 1 && /^`/ && !/^`ours`/ { exit } { print }' "$OUT/results/score.md"
    echo
    if [ "$BIG_SCENES" -gt 0 ]; then
        echo "The same systems on a larger corpus, \`bargein-eval generate --seed $BIG_SEED --scenes $BIG_SCENES\`:"
        echo
        awk 'NR > 1 && /^`/ { exit } NF { print }' "$OUT/big-results/score.md"
        echo
        echo "The same 1000 scenes in a closed loop (\`run --closed-loop true\`: each system hears the echo of what its ducker let through; ours ducks on the tentative decision, the frameworks' policies stop on their one decision):"
        echo
        awk 'NR > 1 && /^`/ { exit } NF { print }' "$OUT/big-closed/score.md"
        echo
        echo "\`ours\` in the closed loop, by SER and call position:"
        echo
        awk '/^`ours` by condition/ { on = 1; next } on && /^`/ { exit }
             on && (/^\| condition/ || /^\|---/ || /^\| SER/ || /^\| call position/) { print }' \
            "$OUT/big-closed/score.md"
        echo
    fi
    if [ "$LINE_SCENES" -gt 0 ]; then
        echo "Telephone lines without echo (the caller's phone cancels its own; every scene but the echo-only ones), \`bargein-eval generate --seed $LINE_SEED --scenes $LINE_SCENES --echo-free-share 1\`:"
        echo
        awk 'NR > 1 && /^`/ { exit } NF { print }' "$OUT/line-results/score.md"
        echo
    fi
    echo "Sweep (\`bargein-eval sweep\`; plot: [docs/eval/tradeoff.png](docs/eval/tradeoff.png)):"
    echo
    cat "$OUT/sweep/sweep.md"
    echo
    echo "Capacity (\`bargein-eval bench --streams 32\`):"
    echo
    cat "$OUT/bench.md"
    echo "<!-- eval-results:end -->"
} >"$block"
awk -v block="$block" '
    /<!-- eval-results:begin/ { while ((getline line < block) > 0) print line; skip = 1; next }
    /<!-- eval-results:end -->/ { skip = 0; next }
    !skip { print }
' README.md >README.md.new
mv README.md.new README.md
echo "README.md updated from $OUT"
