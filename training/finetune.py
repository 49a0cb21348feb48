"""Fine-tune the tail of EfficientNet-Lite0 with the potato head on the cached augmented views.

Reads training/out/views (from cache_views.py). Measures each lever on the same group split and
leave-one-source-out protocol as train_head.py, at the shipped thresholds:
  frozen        frozen backbone, linear head on the serving view only (the v0.1 baseline)
  frozen+aug    frozen backbone, linear head on all augmented views
  finetune      last MBConv block + 1x1 head conv + linear head trained on all augmented views
Writes training/out/finetune/{levers.json,head.npz,loso.json} and, with --export, the fine-tuned
backbone (pooled features, same input/output names) over models/efficientnet_lite0_features.onnx.
Then run extract_features.py and `train_head.py --head training/out/finetune/head.npz
--loso training/out/finetune/loso.json` to calibrate and write the cards.

With --composites training/out/composites (from composite.py) the fine-tuned lever also trains
on copy-paste composites, each only in runs allowed to see every photo it was made from.

Every run also writes wise.npz (raw validation and held-out logits per --wise alpha), which
score_runs.py scores as the card does, so levers can be compared without exporting each run.

Usage: python training/finetune.py [--epochs 4] [--loso] [--export] [--composites DIR] [--out DIR]
       [--balance EXP] [--hard-weight W] [--mixup A] [--smoothing EPS] [--cutout SHARE] [--lp-init] [--wise A,...]
       [--body-lr LR] [--mine training/out/mined.csv --mine-weight W]
"""

import argparse
import copy
import csv
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from cache_views import check_arch  # noqa: E402
from export_backbone import Backbone, load_backbone  # noqa: E402
from recipe import ARCH, CROP  # noqa: E402
from train_head import (  # noqa: E402
    LOWER, SEED, UPPER, fit, fit_temperature, group_split, loso_entry, loso_splits, sigmoid, summarise,
)

HARD = ("sweet_potato", "potato_dish", "drawing")
HARD_WEIGHT = 2.0  # loss weight of a hard negative (--hard-weight); other negatives weigh 1
BODY_LR = 2e-4  # peak learning rate of the fine-tuned block and head conv (--body-lr)
HEAD_LR = 2e-3  # peak learning rate of the linear head (with --lp-init: the body's)


class Tail(torch.nn.Module):
    """blocks[cut:] + head conv + BN + ReLU6 + global average pool + linear potato head."""

    def __init__(self, net, cut):
        super().__init__()
        self.cut = cut
        self.blocks = copy.deepcopy(net._blocks[cut:])
        self.conv_head = copy.deepcopy(net._conv_head)
        self.bn1 = copy.deepcopy(net._bn1)
        self.act = copy.deepcopy(net._swish)
        self.fc = torch.nn.Linear(1280, 1)
        torch.nn.init.zeros_(self.fc.weight)
        torch.nn.init.zeros_(self.fc.bias)

    def features(self, x):
        for block in self.blocks:
            x = block(x)
        x = self.act(self.bn1(self.conv_head(x)))
        return x.mean((2, 3))

    def forward(self, x):
        return self.fc(self.features(x)).squeeze(1)


def sample_weights(labels, y, sources=None, balance=0.0, hard_weight=HARD_WEIGHT, mined=None, mine_weight=1.0):
    """Positives weigh as much as all negatives together; hard negatives count `hard_weight` times, mined
    look-alike negatives (`mined`: a mask over the views, from mine_negatives.py) `mine_weight` times. With
    balance > 0, within each class a source's views weigh count ** -balance (0.5: square root), so
    the big plain-background sources stop dominating; class totals stay as they were."""
    w = np.where(np.isin(labels, HARD), hard_weight, 1.0)
    if mined is not None:
        w[mined & (y == 0)] = mine_weight
    w[y == 1] = w[y == 0].sum() / max((y == 1).sum(), 1)
    if balance > 0 and sources is not None:
        for c in (0, 1):
            cls = y == c
            total = w[cls].sum()
            for s in set(sources[cls]):
                m = cls & (sources == s)
                w[m] *= m.sum() ** -balance
            w[cls] *= total / w[cls].sum()
    return w / w.mean()


def linear_probe(tail, acts, view_rows, y, weights, c=0.5):
    """The head a frozen tail's features call for: weighted logistic regression (L2 as scikit-learn's C)
    on the pooled features of `view_rows`, solved by L-BFGS. Returns (weight [1280], bias)."""
    x = torch.from_numpy(run_tail(tail, acts, view_rows, "features"))
    target = torch.from_numpy(y[view_rows]).float()
    w = torch.from_numpy(weights[view_rows]).float()
    fc = torch.nn.Linear(x.shape[1], 1)
    torch.nn.init.zeros_(fc.weight)
    torch.nn.init.zeros_(fc.bias)
    opt = torch.optim.LBFGS(fc.parameters(), lr=1, max_iter=500, tolerance_grad=1e-6, line_search_fn="strong_wolfe")
    l2 = 1.0 / (2 * c * float(w.sum()))

    def closure():
        opt.zero_grad()
        loss = (F.binary_cross_entropy_with_logits(fc(x).squeeze(1), target, reduction="none") * w).mean()
        loss = loss + l2 * fc.weight.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return fc.weight.detach()[0].clone(), fc.bias.detach()[0].clone()


def cutout_mask(rng, n, height, width, share):
    """[n, 1, height, width] of ones, with a random 2x2 to 4x4 square zeroed in `share` of the rows."""
    size = rng.integers(2, 5, n)
    top = (rng.random(n) * (height - size + 1)).astype(int)
    left = (rng.random(n) * (width - size + 1)).astype(int)
    rows, cols = np.arange(height)[None, :], np.arange(width)[None, :]
    inside_r = (rows >= top[:, None]) & (rows < (top + size)[:, None])
    inside_c = (cols >= left[:, None]) & (cols < (left + size)[:, None])
    erase = (inside_r[:, :, None] & inside_c[:, None, :]) & (rng.random(n) < share)[:, None, None]
    return torch.from_numpy(~erase).float()[:, None]


def interpolate(start, end, alpha):
    """WiSE-FT: a tail whose every weight is (1 - alpha) * start + alpha * end (alpha 1: `end`)."""
    out = copy.deepcopy(end)
    a, b = start.state_dict(), end.state_dict()
    out.load_state_dict({k: (1 - alpha) * a[k] + alpha * b[k] if a[k].is_floating_point() else b[k] for k in b})
    return out.eval()


def train_tail(
    net, cut, acts, view_rows, labels, y, epochs, seed, log="", mixup=0.0, smoothing=0.0, sources=None, balance=0.0,
    hard_weight=HARD_WEIGHT, lp_init=False, cutout=0.0, body_lr=BODY_LR, mined=None, mine_weight=1.0,
):
    """Train blocks[cut:] + head on `view_rows` of `acts`. mixup > 0: manifold mixup at the cut (each
    batch mixed with a shuffled copy of itself, lambda ~ Beta(mixup, mixup), targets and weights
    mixed alike); smoothing > 0: targets pulled towards 0.5 by that much; cutout > 0: that share of
    the views has a random 2x2 to 4x4 square of the cut's spatial grid zeroed. lp_init (LP-FT): the head
    starts as the linear probe on the frozen tail's features and trains at the body's learning rate,
    so early updates do not distort the pretrained features to fit a random head. Returns the trained
    tail and the tail it started from (pretrained weights + the initial head)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    tail = Tail(net, cut)
    tail.eval()  # BatchNorm keeps its ImageNet statistics; dropout is applied explicitly
    weights = sample_weights(labels, y, sources, balance, hard_weight, mined, mine_weight)
    head_lr = HEAD_LR
    if lp_init:
        t0 = time.time()
        w0, b0 = linear_probe(tail, acts, view_rows, y, weights)
        with torch.no_grad():
            tail.fc.weight[0] = w0
            tail.fc.bias[0] = b0
        head_lr = body_lr
        print(f"{log}linear probe {time.time() - t0:.0f}s, |w| {float(w0.norm()):.3f}", flush=True)
    start = copy.deepcopy(tail)
    params = [
        {"params": [p for n, p in tail.named_parameters() if not n.startswith("fc.")], "lr": body_lr},
        {"params": tail.fc.parameters(), "lr": head_lr},
    ]
    opt = torch.optim.AdamW(params, weight_decay=1e-4)
    batch = 128
    steps = epochs * int(np.ceil(len(view_rows) / batch))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[body_lr, head_lr], total_steps=steps, pct_start=0.1)
    wv = torch.from_numpy(weights).float()
    yv = torch.from_numpy(y).float()
    t0 = time.time()
    for epoch in range(epochs):
        order = rng.permutation(view_rows)
        total = 0.0
        for s in range(0, len(order), batch):
            idx = np.sort(order[s : s + batch])  # sorted reads from the memory map are faster
            x = torch.from_numpy(acts[idx].astype(np.float32))
            target, weight = yv[idx] * (1 - smoothing) + smoothing / 2, wv[idx]
            if cutout > 0:
                x = x * cutout_mask(rng, len(idx), x.shape[-2], x.shape[-1], cutout)
            if mixup > 0:
                lam = float(rng.beta(mixup, mixup))
                perm = torch.from_numpy(rng.permutation(len(idx)))
                x = lam * x + (1 - lam) * x[perm]
                target = lam * target + (1 - lam) * target[perm]
                weight = lam * weight + (1 - lam) * weight[perm]
            logits = tail.fc(F.dropout(tail.features(x), 0.2, True)).squeeze(1)
            loss = (F.binary_cross_entropy_with_logits(logits, target, reduction="none") * weight).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        print(f"{log}epoch {epoch + 1}/{epochs} loss {total / len(order):.4f} {time.time() - t0:.0f}s", flush=True)
    return tail, start


@torch.no_grad()
def run_tail(tail, acts, rows, what="logits"):
    out = []
    for s in range(0, len(rows), 512):
        x = torch.from_numpy(acts[rows[s : s + 512]].astype(np.float32))
        f = tail.features(x)
        out.append((tail.fc(f).squeeze(1) if what == "logits" else f).numpy())
    return np.concatenate(out)


def evaluate(val_logits, y_val, labels_val, sources_val, loso_logits_fn):
    temperature = fit_temperature(val_logits, y_val)
    p = sigmoid(val_logits / temperature)
    val = summarise(p, y_val, labels_val)
    val["temperature"] = temperature
    val["per_source_recall"] = {
        s: float((p[(sources_val == s) & (y_val == 1)] >= UPPER).mean())
        for s in sorted(set(sources_val[y_val == 1]))
    }
    print("validation", json.dumps({k: round(v, 4) for k, v in val.items() if isinstance(v, float)}), flush=True)
    loso, raw = {}, {}
    if loso_logits_fn is not None:
        for s, logits in loso_logits_fn():
            raw[f"{s}|potatoes"], raw[f"{s}|negatives"] = logits
            loso[str(s)] = loso_entry(sigmoid(logits[0] / temperature), sigmoid(logits[1] / temperature), UPPER)
            print(f"leave out {s}: {json.dumps(loso[str(s)])}", flush=True)
    return val, loso, raw


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--views", default="training/out/views")
    ap.add_argument("--out", default="training/out/finetune")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--loso", action="store_true", help="also retrain for every held-out potato source")
    ap.add_argument("--levers", default="frozen,frozen+aug,finetune")
    ap.add_argument("--export", default="", help="write the fine-tuned backbone ONNX here")
    ap.add_argument(
        "--composites", default="", help="also train on composite.py's views (e.g. training/out/composites)"
    )
    ap.add_argument("--mixup", type=float, default=0.0, help="manifold mixup alpha at the cut (0: off)")
    ap.add_argument("--smoothing", type=float, default=0.0, help="label smoothing (0: off)")
    ap.add_argument("--cutout", type=float, default=0.0, help="share of views with a square of the cut zeroed")
    ap.add_argument("--body-lr", type=float, default=BODY_LR, help="peak learning rate of the block and head conv")
    ap.add_argument("--balance", type=float, default=0.0, help="per-source weight exponent (0: off, 0.5: sqrt)")
    ap.add_argument(
        "--hard-weight", type=float, default=HARD_WEIGHT, help="loss weight of sweet potatoes, dishes, drawings"
    )
    ap.add_argument("--seed", type=int, default=SEED, help="fine-tuning seed (the split stays seed 0)")
    ap.add_argument("--mine", default="", help="mined look-alike negatives (mine_negatives.py's CSV) to weigh more")
    ap.add_argument("--mine-weight", type=float, default=3.0, help="loss weight of the mined negatives' views")
    ap.add_argument("--lp-init", action="store_true", help="LP-FT: start the head from the frozen tail's linear probe")
    ap.add_argument(
        "--wise", default="1",
        help="WiSE-FT: comma-separated alphas; the tail kept is (1 - alpha) * start + alpha * fine-tuned, for the "
        "first alpha (1: the fine-tuned tail); every alpha's validation and held-out logits go to wise.npz",
    )
    ap.add_argument("--loso-sources", default="", help="comma-separated potato sources to hold out (default: all)")
    args = ap.parse_args()
    alphas = [float(a) for a in args.wise.split(",")]
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(os.cpu_count() or 1)

    rows = list(csv.DictReader(open(os.path.join(args.data, "manifest.csv"))))
    index = np.load(os.path.join(args.views, "index.npz"))
    assert list(index["paths"]) == [r["path"] for r in rows], "view cache is stale: rerun cache_views.py"
    print("loading activations...", flush=True)
    acts = np.load(os.path.join(args.views, "acts.npy"))
    img_of, view_of = index["image"], index["view"]
    cut = int(index["cut"]) if "cut" in index else 15
    check_arch(index)
    print(f"{ARCH}: fine-tuning blocks {cut}+ and the head", flush=True)
    labels = np.array([r["label"] for r in rows])
    sources = np.array([r["source"] for r in rows])
    groups = np.array([r["dup_group"] for r in rows])
    y = (labels == "potato").astype(int)
    canonical = np.full(len(rows), -1)
    canonical[img_of[view_of == 0]] = np.where(view_of == 0)[0]

    train_idx, val_idx = group_split(labels, groups)
    is_train = np.zeros(len(rows), bool)
    is_train[train_idx] = True
    potato_sources = sorted(set(sources[y == 1]))
    if args.loso_sources:
        potato_sources = [s for s in args.loso_sources.split(",") if s]
        assert set(potato_sources) <= set(sources[y == 1]), f"unknown source in {potato_sources}"

    # Per view: its manifest row, label and target. Composites (labelled as their cutouts) come after the
    # cached views; each may train only where every photo it was made from may.
    view_labels, view_y, view_sources = labels[img_of], y[img_of], sources[img_of]
    comp_from = np.zeros((0, 1), int)
    if args.composites:
        comp = np.load(os.path.join(args.composites, "index.npz"))
        assert list(comp["paths"]) == [r["path"] for r in rows], "composite cache is stale: rerun composite.py"
        comp_acts = np.load(os.path.join(args.composites, "acts.npy"))
        comp_from = np.concatenate([comp["cutouts"], comp["background"][:, None]], axis=1)
        acts = np.concatenate([acts, comp_acts])
        comp_labels = comp["label"] if "label" in comp else np.full(len(comp_acts), "potato")
        view_labels = np.concatenate([view_labels, comp_labels])
        view_sources = np.concatenate([view_sources, comp["source"]])
        view_y = np.concatenate([view_y, (comp_labels == "potato").astype(int)])
        print(f"+ {len(comp_acts)} composites: {dict(zip(*np.unique(comp_labels, return_counts=True)))}", flush=True)

    view_mined = np.zeros(len(view_labels), bool)
    if args.mine:
        mined_paths = {r["path"] for r in csv.DictReader(open(args.mine))}
        mined_rows = np.array([r["path"] in mined_paths for r in rows])
        assert not (mined_rows & ~is_train).any(), "a mined negative is outside the training split"
        view_mined[: len(img_of)] = mined_rows[img_of]
        print(f"mined negatives: {int(mined_rows.sum())} photos, {int(view_mined.sum())} views x{args.mine_weight:g}")

    def training_views(image_mask):
        """Rows of `acts` a run may train on when it may see the manifest rows in `image_mask`."""
        cached = np.where(image_mask[img_of])[0]
        if not len(comp_from):
            return cached
        allowed = ((comp_from < 0) | image_mask[np.maximum(comp_from, 0)]).all(axis=1)
        return np.concatenate([cached, len(img_of) + np.where(allowed)[0]])

    def loso_masks():
        return loso_splits(sources, groups, y, is_train, potato_sources)

    _, net = load_backbone()
    frozen = Tail(net, cut).eval()
    levers = [lv for lv in args.levers.split(",") if lv]
    results = {}
    if "frozen" in levers or "frozen+aug" in levers:
        print("frozen features of every view...", flush=True)
        feats = run_tail(frozen, acts, np.arange(len(img_of)), "features").astype(np.float64)

        def fit_lr(image_mask, all_views):
            sel = image_mask[img_of] & ((view_of == 0) | all_views)
            return fit(feats[sel], y[img_of[sel]])

        for lever, all_views in (("frozen", False), ("frozen+aug", True)):
            if lever not in levers:
                continue
            print(f"== {lever}", flush=True)
            clf = fit_lr(is_train, all_views)

            def loso_fn(all_views=all_views):
                for s, held, train, negatives in loso_masks():
                    m = fit_lr(train, all_views)
                    yield s, (
                        m.decision_function(feats[canonical[held & (y == 1)]]),
                        m.decision_function(feats[canonical[negatives]]),
                    )

            val, loso, _ = evaluate(
                clf.decision_function(feats[canonical[val_idx]]), y[val_idx], labels[val_idx], sources[val_idx],
                loso_fn if args.loso else None,
            )
            results[lever] = {"validation": val, "leave_one_source_out": loso}

    if "finetune" in levers:
        print("== finetune", flush=True)
        knobs = {
            "mixup": args.mixup, "smoothing": args.smoothing, "sources": view_sources, "balance": args.balance,
            "hard_weight": args.hard_weight, "lp_init": args.lp_init, "cutout": args.cutout,
            "body_lr": args.body_lr, "mined": view_mined if args.mine else None, "mine_weight": args.mine_weight,
        }
        wise = {}  # every alpha's raw logits: "{alpha}|validation", "{alpha}|{source}|potatoes|negatives"

        def trained(views, log=""):
            """The tail at each alpha, the first one the tail this run keeps."""
            t, start = train_tail(
                net, cut, acts, views, view_labels, view_y, args.epochs, args.seed, log=log, **knobs
            )
            return [interpolate(start, t, a) for a in alphas]

        tails = trained(training_views(is_train))
        tail = tails[0]
        for a, t in zip(alphas, tails):
            wise[f"{a:g}|validation"] = run_tail(t, acts, canonical[val_idx])

        def loso_fn():
            for s, held, train, negatives in loso_masks():
                views = training_views(train)
                composites = views[views >= len(img_of)] - len(img_of)
                assert not np.isin(comp_from[composites], np.where(held | ~is_train)[0]).any(), "composite leak"
                ts = trained(views, log=f"loso {s}: ")
                for a, t in zip(alphas, ts):
                    wise[f"{a:g}|{s}|potatoes"] = run_tail(t, acts, canonical[held & (y == 1)])
                    wise[f"{a:g}|{s}|negatives"] = run_tail(t, acts, canonical[negatives])
                    # the held-out source's own negatives (store produce, foods): look-alikes from a place never seen
                    wise[f"{a:g}|{s}|own_negatives"] = run_tail(t, acts, canonical[held & (y == 0)])
                yield s, (wise[f"{alphas[0]:g}|{s}|potatoes"], wise[f"{alphas[0]:g}|{s}|negatives"])

        val, loso, loso_logits = evaluate(
            wise[f"{alphas[0]:g}|validation"], y[val_idx], labels[val_idx], sources[val_idx],
            loso_fn if args.loso else None,
        )
        results["finetune+composites" if args.composites else "finetune"] = {
            "validation": val,
            "leave_one_source_out": loso,
        }
        np.savez(
            os.path.join(args.out, "head.npz"),
            weights=tail.fc.weight.detach().numpy()[0].astype(np.float64),
            bias=float(tail.fc.bias.detach().numpy()[0]),
        )
        with open(os.path.join(args.out, "loso.json"), "w") as f:
            json.dump(loso, f, indent=1)
        if loso_logits:  # raw logits, so train_head.py can score them at the final calibration and thresholds
            np.savez(os.path.join(args.out, "loso_logits.npz"), **loso_logits)
        np.savez(os.path.join(args.out, "wise.npz"), **wise)
        if args.export:
            export(net, tail, args.export)

    with open(os.path.join(args.out, "levers.json"), "w") as f:
        settings = {
            "epochs": args.epochs, "cut": cut, "seed": args.seed, "mixup": args.mixup, "smoothing": args.smoothing,
            "balance": args.balance, "hard_weight": args.hard_weight, "lp_init": args.lp_init,
            "wise_alpha": alphas[0], "cutout": args.cutout, "body_lr": args.body_lr,
            "mine": args.mine, "mine_weight": args.mine_weight if args.mine else None,
        }
        json.dump({**settings, "thresholds": [LOWER, UPPER], "levers": results}, f, indent=1)


def export(net, tail, path):
    """The whole backbone with the fine-tuned tail, pooled 1280-d features out (the head stays in the card)."""
    import onnx
    from onnxsim import simplify

    net = copy.deepcopy(net)
    for i, block in enumerate(tail.blocks):
        net._blocks[tail.cut + i] = block
    net._conv_head, net._bn1 = tail.conv_head, tail.bn1
    model = Backbone(net).eval()
    torch.onnx.export(
        model, torch.zeros(1, 3, CROP, CROP), path, opset_version=13, input_names=["input"],
        output_names=["features"], dynamo=False,
    )
    simplified, ok = simplify(onnx.load(path))
    assert ok, "onnxsim could not validate the simplified graph"
    onnx.save(simplified, path)
    print(f"wrote {path}: ops {sorted({n.op_type for n in simplified.graph.node})}")


if __name__ == "__main__":
    main()
