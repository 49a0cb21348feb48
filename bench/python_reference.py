"""The Python reference a Python user would write: Pillow decode + resize, numpy normalise,
onnxruntime (one thread) on the same ONNX backbone and the same linear head.

Prints one JSON row per image size: median end-to-end ms, images/s, peak RSS (MB) of this
process. Run it through bench/compare.sh, which runs the Rust pipeline in the same invocation.
"""

import argparse
import json
import os
import resource
import statistics
import sys
import time

import numpy as np
import onnxruntime as ort
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "training"))
from recipe import preprocess  # noqa: E402  (the serving recipe in Pillow + numpy)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", default="../shared/data/bench")
    ap.add_argument("--models", default="models")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    card = json.load(open(os.path.join(args.models, "ispotato.json")))
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(os.path.join(args.models, card["backbone"]["file"]), opts, providers=["CPUExecutionProvider"])
    w = np.array(card["head"]["weights"], np.float32)
    b = card["head"]["bias"]
    t = card["calibration"]["temperature"]
    groups = {}
    for name in sorted(os.listdir(args.dir)):
        path = os.path.join(args.dir, name)
        with Image.open(path) as im:
            groups.setdefault(f"{im.width}x{im.height}", []).append(path)
    rows = []
    for size, paths in groups.items():
        times = []
        for path in paths:
            for run in range(args.runs + 1):
                t0 = time.perf_counter()
                with Image.open(path) as im:
                    x = preprocess(im)
                feats = sess.run(None, {"input": x})[0][0]
                p = 1.0 / (1.0 + np.exp(-(float(feats @ w) + b) / t))
                elapsed = time.perf_counter() - t0
                if run > 0:
                    times.append(elapsed)
        median_ms = statistics.median(times) * 1e3
        rows.append({"size": size, "images": len(paths), "end_to_end_ms": median_ms,
                     "images_per_second": 1e3 / median_ms,
                     "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0})
        _ = p
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
