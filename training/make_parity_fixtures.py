"""Generate the preprocessing/inference parity fixtures the Rust tests check against.

Synthesises a few images (no outside data), preprocesses them with the independent reference
recipe (recipe.py: Pillow + numpy) and runs the backbone with onnxruntime. Writes the PNGs and
parity.json to crates/ispotato-core/tests/fixtures/parity/.

Usage: python training/make_parity_fixtures.py
"""

import json
import os

import numpy as np
import onnxruntime as ort
from PIL import Image, ImageDraw

from recipe import load

OUT = "crates/ispotato-core/tests/fixtures/parity"
MODEL = "models/efficientnet_lite0_features.onnx"
SIZES = {"landscape_300x200": (300, 200), "portrait_201x350": (201, 350), "square_256": (256, 256), "large_640x480": (640, 480), "small_150x120": (150, 120)}


def synthesise(w, h, seed):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([
        128 + 100 * np.sin(xx / (7 + seed)) * np.cos(yy / 11),
        128 + 90 * np.cos((xx + yy) / 13),
        60 + 150 * (xx / w),
    ], axis=-1)
    base += rng.normal(0, 12, base.shape)
    img = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(img)
    for _ in range(6):
        x0, y0 = int(rng.integers(0, w - 10)), int(rng.integers(0, h - 10))
        draw.ellipse([x0, y0, x0 + int(rng.integers(8, w // 2)), y0 + int(rng.integers(8, h // 2))],
                     fill=tuple(int(c) for c in rng.integers(0, 256, 3)))
    return img


def main():
    os.makedirs(OUT, exist_ok=True)
    sess = ort.InferenceSession(MODEL, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(42)
    fixtures = []
    for seed, (name, (w, h)) in enumerate(SIZES.items()):
        path = os.path.join(OUT, f"{name}.png")
        synthesise(w, h, seed).save(path)
        x = load(path)
        flat = x.reshape(-1)
        idx = sorted(int(i) for i in rng.choice(flat.size, 256, replace=False))
        feats = sess.run(None, {"input": x})[0][0]
        fixtures.append({
            "file": f"{name}.png",
            "tensor_sum": float(flat.astype(np.float64).sum()),
            "tensor_samples": [[i, float(flat[i])] for i in idx],
            "features": [float(f) for f in feats],
        })
    with open(os.path.join(OUT, "parity.json"), "w") as f:
        json.dump({"recipe": "training/recipe.py", "model": os.path.basename(MODEL), "fixtures": fixtures}, f)
    print(f"wrote {len(fixtures)} fixtures to {OUT}")


if __name__ == "__main__":
    main()
