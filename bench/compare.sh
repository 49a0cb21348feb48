#!/usr/bin/env bash
# Rust pipeline vs the Python reference, same images, one core each, in one invocation.
# Needs a release build (cargo build --release) and Python with training/requirements.txt
# (PYTHON=path/to/python to choose the interpreter).
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-../shared/data/bench}
RUNS=${RUNS:-5}
PYTHON=${PYTHON:-python3}
rust=$(taskset -c 0 target/release/ispotato bench --json --runs "$RUNS" "$DIR")
py=$(taskset -c 0 "$PYTHON" bench/python_reference.py --dir "$DIR" --runs "$RUNS")
"$PYTHON" - "$rust" "$py" <<'PY'
import json, sys
rust = {r["size"]: r for r in json.loads(sys.argv[1])}
py = {r["size"]: r for r in json.loads(sys.argv[2])}
print(f"{'size':<11} {'rust ms':>9} {'python ms':>10} {'rust img/s':>11} {'python img/s':>13} {'speed-up':>9} {'rust peak MB':>13} {'python peak MB':>15}")
for size in sorted(rust, key=lambda s: int(s.split('x')[0])):
    r, p = rust[size], py.get(size)
    if not p:
        continue
    print(f"{size:<11} {r['end_to_end_ms']:>9.1f} {p['end_to_end_ms']:>10.1f} {1e3/r['end_to_end_ms']:>11.1f} "
          f"{p['images_per_second']:>13.1f} {p['end_to_end_ms']/r['end_to_end_ms']:>8.2f}x {r['peak_rss_mb']:>13.1f} {p['peak_rss_mb']:>15.1f}")
print("medians of end-to-end time per image (decode + preprocess + inference + head), one core each")
PY
