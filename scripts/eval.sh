#!/usr/bin/env bash
# Regenerates the evaluation corpus and the README's "Evaluation results":
#   bash scripts/eval.sh            # 200 scenes, seed 1 (about 10 minutes on 2 cores)
#   SCENES=50 bash scripts/eval.sh  # a quicker look
# Corpus and results go to $BARGEIN_CACHE/eval (override with EVAL_OUT); the
# sweep's trade-off plot is copied to docs/eval/tradeoff.png.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
# shellcheck disable=SC1091
. "${BARGEIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gst-bargein}/env.sh"

SCENES=${SCENES:-200}
SEED=${SEED:-1}
OUT=${EVAL_OUT:-$BARGEIN_CACHE/eval}
cargo build --release --bin bargein-eval
eval_tool() { cargo run -q --release --bin bargein-eval -- "$@"; }

rm -rf "$OUT/corpus" "$OUT/results" "$OUT/sweep"
mkdir -p "$OUT" docs/eval
eval_tool generate --out "$OUT/corpus" --seed "$SEED" --scenes "$SCENES"
eval_tool run --corpus "$OUT/corpus" --out "$OUT/results" --system all
eval_tool score --results "$OUT/results" >/dev/null
eval_tool sweep --corpus "$OUT/corpus" --out "$OUT/sweep" >/dev/null
eval_tool bench --streams 32 >"$OUT/bench.md"
cp "$OUT/sweep/tradeoff.png" docs/eval/tradeoff.png

# The README block: the systems table and our detector by condition (the
# score report up to the next system's breakdown), the sweep, the bench.
block="$OUT/readme-block.md"
{
    echo "<!-- eval-results:begin (written by scripts/eval.sh; edit there) -->"
    echo "Corpus: \`bargein-eval generate --seed $SEED --scenes $SCENES\` ($(date -u +%Y-%m-%d), $(nproc) cores)."
    echo
    awk 'NR > 1 && /^`/ && !/^`ours`/ { exit } { print }' "$OUT/results/score.md"
    echo
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
