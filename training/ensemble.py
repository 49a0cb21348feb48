"""Measure an ensemble of fine-tuned tails: would averaging several fine-tuning runs help?

Every run folder from finetune.py (`--out DIR --export DIR/backbone.onnx`) holds a backbone with
its own fine-tuned tail and the matching head (head.npz). Each scores the serving view of every
image in the validation folder; their logits are averaged, Platt scaling is refitted, and
precision/recall/AP/ECE/unsure are printed at the card's thresholds for every run alone and for
every combination. The tails share the frozen trunk, so serving k of them would cost the trunk
once plus k tails (about 12% of Lite0's compute each).

Usage: python training/ensemble.py RUN_DIR RUN_DIR... [--val training/out/val] [--card models/ispotato.json]
"""

import argparse
import itertools
import json
import os
import sys

import numpy as np
import onnxruntime as ort

sys.path.insert(0, os.path.dirname(__file__))
from recipe import load  # noqa: E402
from train_head import platt_report, val_images  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--val", default="training/out/val")
    ap.add_argument("--card", default="models/ispotato.json")
    args = ap.parse_args()
    thresholds = json.load(open(args.card))["thresholds"]
    members = []
    for run in args.runs:
        head = np.load(os.path.join(run, "head.npz"))
        sess = ort.InferenceSession(os.path.join(run, "backbone.onnx"), providers=["CPUExecutionProvider"])
        members.append((os.path.basename(os.path.normpath(run)), sess, head["weights"], float(head["bias"])))
    logits, labels = [], []
    for label, path in val_images(args.val):
        x = load(path)
        logits.append([float(s.run(None, {"input": x})[0][0] @ w + b) for _, s, w, b in members])
        labels.append(label)
    logits, labels = np.array(logits), np.array(labels)
    print(f"{'runs':<48} {'precision':>9} {'recall':>7} {'AP':>6} {'ECE':>6} {'unsure':>7}")
    for k in range(1, len(members) + 1):
        for combo in itertools.combinations(range(len(members)), k):
            name = " + ".join(members[i][0] for i in combo)
            z = logits[:, list(combo)].mean(1)
            print(f"{name:<48} {platt_report(z, labels, thresholds['lower'], thresholds['upper'])}")


if __name__ == "__main__":
    main()
