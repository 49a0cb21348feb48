"""Measure multi-crop inference on the validation split: is it worth its cost at serving time?

Each image is scored from several views with the shipped backbone and head (models/): the serving
centre crop, the whole image squashed to 224x224, and the four corner crops of the 256-resized
image. Views are combined by averaging logits. Prints precision/recall/AP/unsure per combination
at the card's temperature and thresholds, and how many backbone runs each costs.

Usage: python training/multicrop.py [--val training/out/val] [--card models/ispotato.json]
"""

import argparse
import json
import os
import sys

import numpy as np
import onnxruntime as ort
from PIL import Image
from sklearn.metrics import average_precision_score

sys.path.insert(0, os.path.dirname(__file__))
from recipe import CROP, MEAN, STD, resize_shorter, to_rgb  # noqa: E402
from train_head import sigmoid  # noqa: E402


def views(path):
    with Image.open(path) as img:
        img = to_rgb(img)
    r = resize_shorter(img)
    w, h = r.size
    left, top = int(round((w - CROP) / 2.0)), int(round((h - CROP) / 2.0))
    boxes = [(left, top), (0, 0), (w - CROP, 0), (0, h - CROP), (w - CROP, h - CROP)]
    out = [r.crop((x, y, x + CROP, y + CROP)) for x, y in boxes]
    out.insert(1, img.resize((CROP, CROP), Image.BILINEAR))
    return [((np.asarray(v, np.float32) - MEAN) / STD).transpose(2, 0, 1)[None].copy() for v in out]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--val", default="training/out/val")
    ap.add_argument("--card", default="models/ispotato.json")
    args = ap.parse_args()
    card = json.load(open(args.card))
    sess = ort.InferenceSession(
        os.path.join(os.path.dirname(args.card), card["backbone"]["file"]), providers=["CPUExecutionProvider"]
    )
    w = np.array(card["head"]["weights"])
    b = card["head"]["bias"]
    t = card["calibration"]["temperature"]
    lower, upper = card["thresholds"]["lower"], card["thresholds"]["upper"]
    logits, y = [], []
    for label in sorted(os.listdir(args.val)):
        for name in sorted(os.listdir(os.path.join(args.val, label))):
            vs = views(os.path.join(args.val, label, name))
            logits.append([float(sess.run(None, {"input": v})[0][0] @ w + b) for v in vs])
            y.append(label == "potato")
    logits, y = np.array(logits), np.array(y)
    combos = {
        "centre (serving)": [0],
        "centre + whole": [0, 1],
        "centre + 4 corners": [0, 2, 3, 4, 5],
        "centre + whole + 4 corners": [0, 1, 2, 3, 4, 5],
    }
    print(f"{'views':<28} {'runs':>4} {'precision':>9} {'recall':>7} {'AP':>6} {'unsure':>7}")
    for name, idx in combos.items():
        p = sigmoid(logits[:, idx].mean(1) / t)
        call = p >= upper
        tp = (call & y).sum()
        prec = tp / max(call.sum(), 1)
        rec = tp / max(y.sum(), 1)
        unsure = ((p >= lower) & (p < upper)).mean()
        ap_ = average_precision_score(y, p)
        print(f"{name:<28} {len(idx):>4} {prec:>9.3f} {rec:>7.3f} {ap_:>6.3f} {unsure:>6.1%}")


if __name__ == "__main__":
    main()
