"""The serving preprocessing recipe, written independently of the Rust code (Pillow + numpy).

RGB (alpha composited over white), shorter side resized to 256 with Pillow's antialiased
bilinear filter (longer side = floor(256 * long / short), as torchvision does), centre crop
224 (offset = round-half-even((size - 224) / 2)), then (pixel - 127) / 128, NCHW float32
(for Lite0, the shipped backbone; ISPOTATO_ARCH=lite1/lite2 use 274/240 and 297/260).
The Rust pipeline (crates/ispotato-core/src/model/preprocess.rs) must match this within 1e-4.
"""

import os

import numpy as np
from PIL import Image

# The backbone the whole pipeline builds, chosen with the environment variable ISPOTATO_ARCH (so
# every script and worker process agrees): the serving model is Lite0; Lite1/Lite2 are measured
# at their native resolution (crop), shorter side crop / 0.875 as for Lite0.
ARCHS = {
    "lite0": {"crop": 224, "resize_shorter": 256},
    "lite1": {"crop": 240, "resize_shorter": 274},
    "lite2": {"crop": 260, "resize_shorter": 297},
}
ARCH = os.environ.get("ISPOTATO_ARCH", "lite0")
if ARCH not in ARCHS:
    raise SystemExit(f"ISPOTATO_ARCH={ARCH!r}: expected one of {sorted(ARCHS)}")
RESIZE_SHORTER = ARCHS[ARCH]["resize_shorter"]
CROP = ARCHS[ARCH]["crop"]
MEAN = 127.0
STD = 128.0


def to_rgb(img: Image.Image) -> Image.Image:
    if img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def resize_shorter(img: Image.Image, shorter: int = RESIZE_SHORTER) -> Image.Image:
    w, h = img.size
    if w <= h:
        size = (shorter, int(shorter * h / w))
    else:
        size = (int(shorter * w / h), shorter)
    if size == (w, h):
        return img
    return img.resize(size, Image.BILINEAR)


def centre_crop(img: Image.Image, crop: int = CROP) -> Image.Image:
    w, h = img.size
    left = int(round((w - crop) / 2.0))
    top = int(round((h - crop) / 2.0))
    return img.crop((left, top, left + crop, top + crop))


def preprocess(img: Image.Image, shorter: int = RESIZE_SHORTER, crop: int = CROP) -> np.ndarray:
    img = centre_crop(resize_shorter(to_rgb(img), shorter), crop)
    arr = (np.asarray(img, dtype=np.float32) - MEAN) / STD
    return arr.transpose(2, 0, 1)[None].copy()


def load(path, shorter: int = RESIZE_SHORTER, crop: int = CROP) -> np.ndarray:
    with Image.open(path) as img:
        return preprocess(img, shorter, crop)
