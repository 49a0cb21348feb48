"""Run the frozen part of the backbone once over the canonical view and augmented views of every image.

Fine-tuning trains only the tail of EfficientNet-Lite0 (its last MBConv block, the 1x1 head
convolution and the linear potato head). The trunk before it (stem + blocks 0-14) stays frozen, so
its output for each view is computed once here (onnxruntime) and cached as float16
[views, 192, 7, 7]; `finetune.py` then trains the tail on the cache in minutes on a CPU.

Views per image: view 0 is the serving preprocessing (`recipe.load`, bit-exact with the Rust
pipeline), then augmented views (random resized crop down to 15% of the area, flips, quarter
and small rotations, brightness/contrast/saturation/white-balance jitter, blur, JPEG
re-compression). Potatoes get more views than ordinary negatives and hard negatives (sweet potatoes,
potato dishes, drawings) sit in between: that balances the classes without repeating pixels.

Usage: python training/cache_views.py [--data ../shared/data] [--workers 2]
Writes training/out/views/{trunk.onnx,acts.f16,index.npz}. Seeded: the same views every run.
"""

import argparse
import csv
import io
import os
import sys
import time
from multiprocessing import Pool

import numpy as np
import torch
from PIL import Image, ImageEnhance, ImageFilter

sys.path.insert(0, os.path.dirname(__file__))
from export_backbone import load_backbone  # noqa: E402
from recipe import ARCH, CROP, MEAN, STD, load, to_rgb  # noqa: E402

SEED = 0
# blocks[:cut] are frozen, blocks[cut:] + head are fine-tuned; the default cut is the last block
# (Lite0: block 15, 192 -> 320 channels at 7x7; Lite2: block 20, 208 -> 352 at 9x9).
VIEWS = {"potato": 8, "sweet_potato": 6, "potato_dish": 6, "drawing": 6, "not_potato": 3}


class Trunk(torch.nn.Module):
    def __init__(self, net, cut):
        super().__init__()
        self.net = net
        self.cut = cut

    def forward(self, x):
        net = self.net
        x = net._swish(net._bn0(net._conv_stem(x)))
        for block in net._blocks[: self.cut]:
            x = block(x)
        return x


def export_trunk(path, cut):
    """Writes the frozen trunk blocks[:cut] (cut None: all but the last block); returns (cut, the
    shape of its output for one image)."""
    _, net = load_backbone()
    cut = len(net._blocks) - 1 if cut is None else cut
    trunk = Trunk(net, cut).eval()
    x = torch.zeros(1, 3, CROP, CROP)
    torch.onnx.export(trunk, x, path, opset_version=13, input_names=["input"], output_names=["acts"], dynamo=False)
    with torch.no_grad():
        return cut, tuple(trunk(x).shape[1:])


def check_arch(index):
    """Refuses a view cache (its index.npz) built for another ISPOTATO_ARCH; caches from before
    the field existed are Lite0's."""
    cached = str(index["arch"]) if "arch" in index else "lite0"
    assert cached == ARCH, f"the view cache is {cached}'s, ISPOTATO_ARCH is {ARCH}"


def augment(path, rng):
    """One random training view, [1, 3, CROP, CROP] float32 with the serving normalisation."""
    with Image.open(path) as img:
        img.draft("RGB", (448, 448))
        img = to_rgb(img)
    if rng.random() < 0.25:
        img = img.rotate(float(rng.uniform(-20, 20)), resample=Image.BILINEAR)
    w, h = img.size
    area = w * h
    for _ in range(10):
        scale = rng.uniform(0.15, 1.0)
        ratio = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
        cw = int(round(np.sqrt(area * scale * ratio)))
        ch = int(round(np.sqrt(area * scale / ratio)))
        if 0 < cw <= w and 0 < ch <= h:
            x0 = int(rng.integers(0, w - cw + 1))
            y0 = int(rng.integers(0, h - ch + 1))
            img = img.crop((x0, y0, x0 + cw, y0 + ch))
            break
    img = img.resize((CROP, CROP), Image.BILINEAR)
    if rng.random() < 0.5:
        img = img.transpose(Image.FLIP_LEFT_RIGHT)
    if rng.random() < 0.3:
        img = img.transpose([Image.ROTATE_90, Image.ROTATE_180, Image.ROTATE_270][int(rng.integers(0, 3))])
    arr = (photometric(img, rng) - MEAN) / STD
    return arr.transpose(2, 0, 1)[None].copy()


def photometric(
    img, rng, light=(0.6, 1.4), contrast=(0.6, 1.4), colour=(0.5, 1.5), blur_p=0.2, blur=(0.5, 2.0), white=(0.9, 1.1)
):
    """Brightness, contrast and saturation jitter, sometimes blur and JPEG re-compression, then a
    per-channel white balance: float32 HxWx3 in 0..255."""
    img = ImageEnhance.Brightness(img).enhance(rng.uniform(*light))
    img = ImageEnhance.Contrast(img).enhance(rng.uniform(*contrast))
    img = ImageEnhance.Color(img).enhance(rng.uniform(*colour))
    if rng.random() < blur_p:
        img = img.filter(ImageFilter.GaussianBlur(float(rng.uniform(*blur))))
    if rng.random() < 0.3:
        img = jpeg_recompress(img, rng)
    arr = np.asarray(img, dtype=np.float32) * rng.uniform(*white, size=3).astype(np.float32)
    return np.clip(arr, 0, 255)


def jpeg_recompress(img, rng):
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=int(rng.integers(30, 90)))
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


_sess = None


def run_trunk(x):
    """The frozen trunk ($TRUNK) on one normalised [1, 3, CROP, CROP] input -> float16 activations.
    One single-threaded onnxruntime session per worker process."""
    global _sess
    import onnxruntime as ort

    if _sess is None:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        _sess = ort.InferenceSession(os.environ["TRUNK"], opts, providers=["CPUExecutionProvider"])
    return _sess.run(None, {"input": x})[0][0].astype(np.float16)


def work(job):
    """(image index, view index, path) -> activations; view 0 is the serving view."""
    i, v, path = job
    if v == 0:
        return run_trunk(load(path))
    return run_trunk(augment(path, np.random.default_rng([SEED, i, v])))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--out", default="training/out/views")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--cut", type=int, help="first fine-tuned block (default: the last one)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    trunk = os.path.join(args.out, "trunk.onnx")
    cut, act_shape = export_trunk(trunk, args.cut)
    print(f"{ARCH}: blocks {cut}+ fine-tuned, trunk output {act_shape}", flush=True)
    os.environ["TRUNK"] = trunk
    rows = list(csv.DictReader(open(os.path.join(args.data, "manifest.csv"))))
    jobs = []
    for i, row in enumerate(rows):
        for v in range(1 + VIEWS[row["label"]]):
            jobs.append((i, v, os.path.join(args.data, row["path"])))
    acts = np.lib.format.open_memmap(
        os.path.join(args.out, "acts.npy"), mode="w+", dtype=np.float16, shape=(len(jobs), *act_shape)
    )
    t0 = time.time()
    with Pool(args.workers) as pool:
        for n, a in enumerate(pool.imap(work, jobs, chunksize=16)):
            acts[n] = a
            if n % 2000 == 0:
                print(f"{n}/{len(jobs)} views {time.time() - t0:.0f}s", flush=True)
    acts.flush()
    np.savez(
        os.path.join(args.out, "index.npz"),
        image=np.array([j[0] for j in jobs]), view=np.array([j[1] for j in jobs]),
        paths=np.array([r["path"] for r in rows]), cut=cut, arch=ARCH,
    )
    print(f"cached {len(jobs)} views of {len(rows)} images in {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
