#!/usr/bin/env bash
# Rust pipeline vs the Python reference, same images, one core each, in one invocation.
# Needs a release build (cargo build --release) and Python with training/requirements.txt
# (PYTHON=path/to/python to choose the interpreter). With a build that has the onnxruntime
# backend (cargo build --release --features onnxruntime) and ISPOTATO_ONNXRUNTIME_LIB naming the
# library (the one in that Python's onnxruntime wheel is a fair choice), the Rust side runs on
# both backends (`bench --all-backends`), one row each.
#
# Besides the photos in DIR it times chat-sized copies of them (longer side 400 px, JPEG quality
# 85, made with Pillow in a temporary folder), the size chat apps forward by default.
#
# Shared machines drift (another tenant, frequency changes), so the two sides are not run one
# after the other once: ROUNDS rounds each run both, alternating which goes first, and the
# speed-up is the median of the per-round ratios (with its range), not a ratio of two runs
# taken minutes apart.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-../shared/data/bench}
RUNS=${RUNS:-5}
ROUNDS=${ROUNDS:-5}
PYTHON=${PYTHON:-python3}
# The Rust binary to time (e.g. one built for x86-64-v3 in its own target folder).
BIN=${ISPOTATO_BIN:-target/release/ispotato}
results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
mkdir "$results/chat"
"$PYTHON" - "$DIR" "$results/chat" <<'PY'
import sys
from pathlib import Path
from PIL import Image
for src in sorted(Path(sys.argv[1]).iterdir()):
    if src.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp"):
        with Image.open(src) as img:
            img = img.convert("RGB")
            img.thumbnail((400, 400), Image.BILINEAR)
            img.save(Path(sys.argv[2]) / (src.stem + ".jpg"), quality=85)
PY
rust() {
    for set in "$DIR" "$results/chat"; do taskset -c 0 "$BIN" bench --json --all-backends --runs "$RUNS" "$set"; done \
        >"$results/rust.$1.json"
}
python() {
    for set in "$DIR" "$results/chat"; do taskset -c 0 "$PYTHON" bench/python_reference.py --dir "$set" --runs "$RUNS"; done \
        >"$results/python.$1.json"
}
for round in $(seq 1 "$ROUNDS"); do
    if ((round % 2)); then rust "$round"; python "$round"; else python "$round"; rust "$round"; fi
done
"$PYTHON" - "$results" "$ROUNDS" <<'PY'
import json, statistics, sys
from pathlib import Path
results, rounds = Path(sys.argv[1]), int(sys.argv[2])
def load(side, r):
    """The rows of one side's round, by (size, backend): one JSON array per image set."""
    text, rows, decoder, at = (results / f"{side}.{r}.json").read_text(), {}, json.JSONDecoder(), 0
    while True:
        while at < len(text) and text[at].isspace():
            at += 1
        if at == len(text):
            return rows
        array, at = decoder.raw_decode(text, at)
        rows.update({(row["size"], row.get("backend", "python")): row for row in array})
rust = [load("rust", r) for r in range(1, rounds + 1)]
py = [load("python", r) for r in range(1, rounds + 1)]
med = statistics.median
print(f"{'size':<11} {'backend':<11} {'rust ms':>9} {'python ms':>10} {'rust img/s':>11} {'python img/s':>13} "
      f"{'speed-up':>9} {'(range)':>13} {'rust peak MB':>13} {'python peak MB':>15}")
for size, backend in sorted(rust[0], key=lambda k: (int(k[0].split('x')[0]), k[1])):
    if any((size, "python") not in p for p in py):
        continue
    r_ms = [r[(size, backend)]["end_to_end_ms"] for r in rust]
    p_ms = [p[(size, "python")]["end_to_end_ms"] for p in py]
    ratios = [p / r for p, r in zip(p_ms, r_ms)]
    r_peak = med(r[(size, backend)]["peak_rss_mb"] for r in rust)
    p_peak = med(p[(size, "python")]["peak_rss_mb"] for p in py)
    print(f"{size:<11} {backend:<11} {med(r_ms):>9.1f} {med(p_ms):>10.1f} {1e3 / med(r_ms):>11.1f} {1e3 / med(p_ms):>13.1f} "
          f"{med(ratios):>8.2f}x {min(ratios):>5.2f}-{max(ratios):.2f}x {r_peak:>13.1f} {p_peak:>15.1f}")
print(f"medians over {rounds} alternated rounds of the per-image medians of end-to-end time "
      "(decode + preprocess + inference + head), one core each; speed-up = median of per-round ratios")
PY
