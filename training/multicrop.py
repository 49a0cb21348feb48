"""Measure multi-crop inference on the validation split: is it worth its cost at serving time?

Each image is scored from several views with the shipped backbone and head (models/): the serving
centre crop, the whole image squashed to 224x224, the four corner crops of the 256-resized image,
and four zoomed tiles (the centre 448x448 of the image resized to a shorter side of 448, i.e. twice
the serving scale, cut into 224x224 quarters: piles seen up close). Views are combined by averaging
logits (or mixing the centre with the tiles' mean / max), Platt scaling is refitted on each
combination, and precision/recall/AP/ECE/unsure are printed at the card's thresholds, with how
many backbone runs each costs.

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
from train_head import platt_report, val_images  # noqa: E402


def views(path):
    with Image.open(path) as img:
        img = to_rgb(img)
    r = resize_shorter(img)
    w, h = r.size
    left, top = int(round((w - CROP) / 2.0)), int(round((h - CROP) / 2.0))
    boxes = [(left, top), (0, 0), (w - CROP, 0), (0, h - CROP), (w - CROP, h - CROP)]
    out = [r.crop((x, y, x + CROP, y + CROP)) for x, y in boxes]
    out.insert(1, img.resize((CROP, CROP), Image.BILINEAR))
    z = resize_shorter(img, 2 * CROP)
    w, h = z.size
    left, top = (w - 2 * CROP) // 2, (h - 2 * CROP) // 2
    out += [z.crop((left + x, top + y, left + x + CROP, top + y + CROP)) for y in (0, CROP) for x in (0, CROP)]
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
    lower, upper = card["thresholds"]["lower"], card["thresholds"]["upper"]
    logits, labels = [], []
    for label, path in val_images(args.val):
        logits.append([float(sess.run(None, {"input": v})[0][0] @ w + b) for v in views(path)])
        labels.append(label)
    logits = np.array(logits)
    centre, tiles = logits[:, 0], logits[:, 6:10]
    combos = {  # name -> (backbone runs, combined logit)
        "centre (serving)": (1, centre),
        "centre + whole": (2, logits[:, [0, 1]].mean(1)),
        "centre + 4 corners": (5, logits[:, [0, 2, 3, 4, 5]].mean(1)),
        "centre + whole + 4 corners": (6, logits[:, :6].mean(1)),
        "4 zoomed tiles, mean": (4, tiles.mean(1)),
        "4 zoomed tiles, max": (4, tiles.max(1)),
        "centre + 4 zoomed tiles": (5, logits[:, [0, 6, 7, 8, 9]].mean(1)),
        **{f"{1 - a:.2f} centre + {a:.2f} tile mean": (5, (1 - a) * centre + a * tiles.mean(1)) for a in (0.25, 0.5)},
        **{f"{1 - a:.2f} centre + {a:.2f} tile max": (5, (1 - a) * centre + a * tiles.max(1)) for a in (0.25, 0.5)},
    }
    print(f"{'views':<30} {'runs':>4} {'precision':>9} {'recall':>7} {'AP':>6} {'ECE':>6} {'unsure':>7}")
    for name, (runs, z) in combos.items():
        print(f"{name:<30} {runs:>4} {platt_report(z, np.array(labels), lower, upper)}")

if __name__ == "__main__":
    main()
