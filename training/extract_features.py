"""Compute frozen backbone features for every image in the data manifest (onnxruntime).

Usage: python training/extract_features.py --data ../shared/data --model models/efficientnet_lite0_features.onnx
Writes training/out/features.npz (features, paths) for train_head.py.
"""

import argparse
import csv
import os
import time

import numpy as np
import onnxruntime as ort

from recipe import load


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--model", default="models/efficientnet_lite0_features.onnx")
    ap.add_argument("--out", default="training/out/features.npz")
    args = ap.parse_args()
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    rows = list(csv.DictReader(open(os.path.join(args.data, "manifest.csv"))))
    sess = ort.InferenceSession(args.model, providers=["CPUExecutionProvider"])
    feats = np.zeros((len(rows), 1280), np.float32)
    t0 = time.time()
    for i, row in enumerate(rows):
        x = load(os.path.join(args.data, row["path"]))
        feats[i] = sess.run(None, {"input": x})[0][0]
        if i % 500 == 0:
            print(f"{i}/{len(rows)} {time.time() - t0:.0f}s", flush=True)
    np.savez_compressed(args.out, features=feats, paths=np.array([r["path"] for r in rows]))
    print(f"wrote {args.out}: {len(rows)} images in {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
