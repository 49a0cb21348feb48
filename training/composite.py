"""Copy-paste compositing: potatoes cut out of plain-background photos, pasted onto varied scenes.

The potato sources that generalise worst (store bins, piles, bowls, hands) look nothing like the
single potato on a white sheet that several other sources show. This script turns those plain
photos into training views that look more like the former:

1. Cutouts: for every photo in the training split (potatoes and negatives alike), the background colour is estimated from the
   image border; pixels far from it form the mask (opened, holes filled, largest component,
   feathered edge). A cutout is kept only when the border is uniform (a plain background), the
   object is 3-85% of the image and touches at most 8% of the border.
2. Composites, each from the cutouts of ONE label and ONE source over ONE background (a
   training-split `not_potato` photo, random crop), labelled as their cutouts: potatoes pasted
   onto scenes, and as many negatives pasted the same way (sweet potatoes, carrots, onions...),
   so that the pasting itself can never be what predicts "potato":
   - `few`: 1-4 potatoes, each 30-75% of the frame;
   - `pile`: 14-45 potatoes, 14-32% of the frame, packed on a jittered grid with overlap, each
     with its own brightness and hue, so the frame reads as a heap of potatoes;
   - `heap` (`--heap-share`): a tight grid 10-24% cells wide filled completely, back rows
     first and smaller, like a store bin or a market heap seen from the front;
   then the same photometric augmentation as cache_views.py (colour, blur, JPEG, white balance).
3. The frozen trunk (training/out/views/trunk.onnx, same cut as the view cache) runs over every
   composite; activations go to training/out/composites/acts.npy, with the manifest rows each
   composite was made from (cutouts and background) in index.npz, so finetune.py can keep a
   composite out of any training run that must not see one of those images (the validation
   split, a held-out source and its dup_groups).

Usage: python training/composite.py [--per-cutout 5] [--workers 2]   (seeded; ~2 min on 2 cores)
Also writes training/out/composites/preview.png (a contact sheet, for a human to check masks).
"""

import argparse
import csv
import os
import sys
import time
from multiprocessing import Pool

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter
from scipy import ndimage

sys.path.insert(0, os.path.dirname(__file__))
from cache_views import check_arch, photometric, run_trunk  # noqa: E402
from recipe import CROP, MEAN, STD, to_rgb  # noqa: E402
from train_head import SEED, group_split  # noqa: E402

MAX_SIDE = 384  # cutouts are made from a reduced copy; composites are 224x224


def training_split(rows):
    labels = np.array([r["label"] for r in rows])
    groups = np.array([r["dup_group"] for r in rows])
    train_idx, _ = group_split(labels, groups)
    is_train = np.zeros(len(rows), bool)
    is_train[train_idx] = True
    return is_train


def cutout(path):
    """RGBA cutout of the object on a plain background, or None when the photo does not qualify."""
    with Image.open(path) as img:
        img.draft("RGB", (MAX_SIDE * 2, MAX_SIDE * 2))
        img = to_rgb(img)
    img.thumbnail((MAX_SIDE, MAX_SIDE))
    a = np.asarray(img, dtype=np.float32)
    h, w, _ = a.shape
    ring = max(2, int(0.04 * min(h, w)))
    border = np.concatenate(
        [a[:ring].reshape(-1, 3), a[-ring:].reshape(-1, 3), a[:, :ring].reshape(-1, 3), a[:, -ring:].reshape(-1, 3)]
    )
    bg = np.median(border, axis=0)
    border_dist = np.linalg.norm(border - bg, axis=1)
    if np.percentile(border_dist, 90) > 40:  # busy or gradient background: not a plain sheet
        return None
    dist = np.linalg.norm(a - bg, axis=2)
    mask = dist > max(35.0, 2.5 * np.percentile(border_dist, 95))
    mask = ndimage.binary_opening(mask, iterations=2)
    mask = ndimage.binary_fill_holes(mask)
    lab, n = ndimage.label(mask)
    if n == 0:
        return None
    sizes = ndimage.sum(mask, lab, range(1, n + 1))
    mask = lab == (int(np.argmax(sizes)) + 1)
    area = mask.mean()
    edge = np.concatenate([mask[0], mask[-1], mask[:, 0], mask[:, -1]]).mean()
    if not (0.03 <= area <= 0.85) or edge > 0.08:
        return None
    ys, xs = np.where(mask)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    alpha = Image.fromarray((mask[y0:y1, x0:x1] * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(1.2))
    rgba = img.crop((x0, y0, x1, y1)).convert("RGBA")
    rgba.putalpha(alpha)
    return rgba


def background(path, rng):
    with Image.open(path) as img:
        img.draft("RGB", (CROP * 2, CROP * 2))
        img = to_rgb(img)
    w, h = img.size
    side = int(min(w, h) * rng.uniform(0.5, 1.0))
    x0, y0 = int(rng.integers(0, w - side + 1)), int(rng.integers(0, h - side + 1))
    return img.crop((x0, y0, x0 + side, y0 + side)).resize((CROP, CROP), Image.BILINEAR)


def jitter_cutout(cut, longer, rng):
    """Scale to `longer` px on its longer side, rotate, flip, and change its own light and hue."""
    s = longer / max(cut.size)
    cut = cut.resize((max(1, int(cut.width * s)), max(1, int(cut.height * s))), Image.BILINEAR)
    cut = cut.rotate(float(rng.uniform(0, 360)), resample=Image.BILINEAR, expand=True)
    if rng.random() < 0.5:
        cut = cut.transpose(Image.FLIP_LEFT_RIGHT)
    rgb, alpha = cut.convert("RGB"), cut.getchannel("A")
    rgb = ImageEnhance.Brightness(rgb).enhance(rng.uniform(0.7, 1.2))
    rgb = ImageEnhance.Color(rgb).enhance(rng.uniform(0.7, 1.3))
    out = rgb.convert("RGBA")
    out.putalpha(alpha)
    return out


def compose(cuts, bg, kind, rng):
    canvas = bg.convert("RGBA")
    if kind == "few":
        for _ in range(int(rng.integers(1, 5))):
            c = jitter_cutout(cuts[int(rng.integers(len(cuts)))], CROP * rng.uniform(0.3, 0.75), rng)
            x = int(rng.integers(-c.width // 4, CROP - 3 * c.width // 4 + 1))
            y = int(rng.integers(-c.height // 4, CROP - 3 * c.height // 4 + 1))
            canvas.paste(c, (x, y), c)
    elif kind == "heap":
        # A bin or market heap: every cell of a tight grid filled, back rows first and smaller
        # (perspective), so the frame is covered by objects with hardly any background showing.
        size = CROP * rng.uniform(0.10, 0.24)
        step = size * 0.6
        for gy in np.arange(-step / 2, CROP + step / 2, step):
            depth = 0.7 + 0.5 * (gy + step / 2) / (CROP + step)
            for gx in rng.permutation(np.arange(-step / 2, CROP + step / 2, step)):
                c = jitter_cutout(cuts[int(rng.integers(len(cuts)))], size * depth * rng.uniform(0.8, 1.25), rng)
                x = int(gx + rng.uniform(-step / 3, step / 3) - c.width / 2)
                y = int(gy + rng.uniform(-step / 3, step / 3) - c.height / 2)
                canvas.paste(c, (x, y), c)
    else:
        n = int(rng.integers(14, 46))
        size = CROP * rng.uniform(0.14, 0.32)
        step = size * 0.75
        cells = [(gx, gy) for gy in np.arange(-step / 2, CROP, step) for gx in np.arange(-step / 2, CROP, step)]
        rng.shuffle(cells)
        for gx, gy in cells[:n] if len(cells) > n else cells:
            c = jitter_cutout(cuts[int(rng.integers(len(cuts)))], size * rng.uniform(0.8, 1.25), rng)
            x = int(gx + rng.uniform(-step / 3, step / 3) - c.width / 2 + step / 2)
            y = int(gy + rng.uniform(-step / 3, step / 3) - c.height / 2 + step / 2)
            canvas.paste(c, (x, y), c)
    arr = photometric(canvas.convert("RGB"), rng, (0.7, 1.3), (0.7, 1.3), (0.6, 1.4), 0.25, (0.4, 1.5), (0.92, 1.08))
    return Image.fromarray(arr.astype(np.uint8))


def make_cutout(job):
    i, path = job
    c = cutout(path)
    return i, c


_CUTS = None
_BGS = None


def make_composite(job):
    """(composite index, cutout rows, background row, kind) -> (activations, a 96px thumbnail of every 40th)."""
    n, cut_rows, bg_row, kind = job
    rng = np.random.default_rng([SEED, 7, n])
    img = compose([_CUTS[r] for r in cut_rows], background(_BGS[bg_row], rng), kind, rng)
    x = ((np.asarray(img, dtype=np.float32) - MEAN) / STD).transpose(2, 0, 1)[None].copy()
    return run_trunk(x), img.resize((96, 96)) if n % 40 == 0 else None


def init_worker(cuts, bgs):
    global _CUTS, _BGS
    _CUTS, _BGS = cuts, bgs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--views", default="training/out/views")
    ap.add_argument("--out", default="training/out/composites")
    ap.add_argument("--per-cutout", type=int, default=5, help="composites per cutout photo")
    ap.add_argument(
        "--negatives-per-cutout", type=float, default=2.0,
        help="composites per cutout of a negative (sweet potato, onion, carrot...): the same pasting, labelled "
        "as its photo, so pasting itself never predicts 'potato'",
    )
    ap.add_argument("--pile-share", type=float, default=0.5, help="share of composites that are loose piles")
    ap.add_argument("--heap-share", type=float, default=0.0, help="share of composites that are dense heaps")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    os.environ["TRUNK"] = os.path.join(args.views, "trunk.onnx")
    views = np.load(os.path.join(args.views, "index.npz"))
    check_arch(views)
    act_shape = np.load(os.path.join(args.views, "acts.npy"), mmap_mode="r").shape[1:]
    rows = list(csv.DictReader(open(os.path.join(args.data, "manifest.csv"))))
    is_train = training_split(rows)
    t0 = time.time()
    candidates = [(i, os.path.join(args.data, r["path"])) for i, r in enumerate(rows) if is_train[i]]
    with Pool(args.workers) as pool:
        cuts = {i: c for i, c in pool.map(make_cutout, candidates, chunksize=8) if c is not None}
    by_kind = {}  # (label, source) -> cutout rows; a composite never mixes labels or sources
    for i in sorted(cuts):
        by_kind.setdefault((rows[i]["label"], rows[i]["source"]), []).append(i)
    print(
        f"{len(cuts)} cutouts from {len(candidates)} training photos in {time.time() - t0:.0f}s: "
        + ", ".join(f"{lab}/{s} {len(v)}" for (lab, s), v in sorted(by_kind.items())),
        flush=True,
    )
    bgs = {
        i: os.path.join(args.data, r["path"]) for i, r in enumerate(rows) if r["label"] == "not_potato" and is_train[i]
    }
    bg_rows = np.array(sorted(bgs))
    rng = np.random.default_rng(SEED)
    jobs = []
    for (label, _), members in sorted(by_kind.items()):
        per = args.per_cutout if label == "potato" else args.negatives_per_cutout
        for _ in range(int(round(per * len(members)))):
            k = int(rng.integers(1, 9))  # potatoes of one composite come from up to 8 photos of one source
            chosen = [int(c) for c in rng.choice(members, size=min(k, len(members)), replace=False)]
            r = rng.random()
            kind = "heap" if r < args.heap_share else "pile" if r < args.heap_share + args.pile_share else "few"
            jobs.append((len(jobs), chosen, int(rng.choice(bg_rows)), kind))
    acts = np.lib.format.open_memmap(
        os.path.join(args.out, "acts.npy"), mode="w+", dtype=np.float16, shape=(len(jobs), *act_shape)
    )
    thumbs = []
    with Pool(args.workers, initializer=init_worker, initargs=(cuts, bgs)) as pool:
        for n, (a, thumb) in enumerate(pool.imap(make_composite, jobs, chunksize=8)):
            acts[n] = a
            if thumb is not None:
                thumbs.append(thumb)
    acts.flush()
    width = max(len(j[1]) for j in jobs)
    np.savez(
        os.path.join(args.out, "index.npz"),
        cutouts=np.array([j[1] + [-1] * (width - len(j[1])) for j in jobs]),
        background=np.array([j[2] for j in jobs]),
        kind=np.array([j[3] for j in jobs]),
        source=np.array([rows[j[1][0]]["source"] for j in jobs]),
        label=np.array([rows[j[1][0]]["label"] for j in jobs]),
        paths=np.array([r["path"] for r in rows]),
    )
    sheet = Image.new("RGB", (12 * 96, ((len(thumbs) + 11) // 12) * 96), "white")
    for k, t in enumerate(thumbs):
        sheet.paste(t, ((k % 12) * 96, (k // 12) * 96))
    sheet.save(os.path.join(args.out, "preview.png"))
    print(f"{len(jobs)} composites in {time.time() - t0:.0f}s -> {args.out}", flush=True)


if __name__ == "__main__":
    main()
