"""Compare fine-tuning runs the way the card scores them, without exporting each one.

Reads the wise.npz that finetune.py writes (raw logits of the validation serving views and of every
held-out source, per WiSE-FT alpha), fits Platt scaling on the validation logits, and prints the
validation metrics and the leave-one-source-out recall and false-positive rate at the card's thresholds.
`--reference` adds the shipped model's row (features.npz + its head + its loso_logits.npz) so the
runs are read against it in the same table.

Usage: python training/score_runs.py training/out/ft_x/wise.npz [...] \
           [--reference training/out/ft_v040] [--features training/out/features.npz]
"""

import argparse
import csv
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from train_head import (  # noqa: E402
    cross_fitted_ece, ece_noise_floor, fit_platt, group_split, loso_from_logits, sigmoid, summarise,
)


def reference_logits(run_dir, features, val_idx):
    """The shipped run in wise.npz's layout (alpha 1): validation logits of its exported backbone."""
    feats = np.load(features)["features"].astype(np.float64)
    head = np.load(os.path.join(run_dir, "head.npz"))
    out = {"1|validation": feats[val_idx] @ head["weights"] + float(head["bias"])}
    loso = np.load(os.path.join(run_dir, "loso_logits.npz"))
    out.update({f"1|{k}": loso[k] for k in loso.files})
    return out


def score(name, logits, y, labels, groups, lower, upper, labels_all, sources_all):
    """One run's rows; `labels_all`/`sources_all` (the whole manifest) name the held-out sources' own negatives."""
    alphas = sorted({k.split("|")[0] for k in logits}, key=float, reverse=True)
    for a in alphas:
        raw = logits[f"{a}|validation"]
        t, shift = fit_platt(raw, y)
        p = sigmoid((raw + shift) / t)
        s = summarise(p, y, labels, lower, upper, groups)
        cf = cross_fitted_ece(raw, y, groups, "platt")["median"]
        floor = ece_noise_floor(p, groups)["median"]
        called = ", ".join(f"{k} {v['called_potato']:.3f}" for k, v in s["slices"].items() if k != "potato")
        print(
            f"{name} alpha {a}: P {s['precision']:.3f} R {s['recall']:.3f} AP {s['average_precision']:.3f} "
            f"AUROC {s['auroc']:.4f} ECE {s['ece']:.3f} (cross-fitted {cf:.3f}, noise floor {floor:.3f}) unsure {s['unsure_rate']:.3f} "
            f"R@P.99 {s['recall_at_precision_0.99']:.2f} P@R.99 {s['precision_at_recall_0.99']:.2f}; called potato: {called}"
        )
        held_out = {k.split("|", 1)[1]: v for k, v in logits.items() if k.startswith(f"{a}|")}
        for src, e in loso_from_logits(held_out, shift, t, upper).items():
            hits = int(round(e["recall"] * e["potatoes"]))
            own = held_out.get(f"{src}|own_negatives")
            if own is not None and len(own):
                called = sigmoid((own + shift) / t) >= upper
                own_labels = labels_all[(sources_all == src) & (labels_all != "potato")]
                per = ", ".join(
                    f"{lab} {int(called[own_labels == lab].sum())}/{int((own_labels == lab).sum())}"
                    for lab in sorted(set(own_labels))
                )
                own_text = f"; its own negatives called potato {called.mean():.2%} ({per})"
            else:
                own_text = ""
            print(
                f"    held out {src}: recall {e['recall']:.3f} ({hits}/{e['potatoes']}), FPR {e['false_positive_rate']:.2%}"
                + own_text
            )


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="*", help="wise.npz files from finetune.py")
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--reference", default="", help="a finetune.py output folder whose backbone features.npz holds")
    ap.add_argument("--features", default="training/out/features.npz")
    ap.add_argument("--card", default="models/ispotato.json", help="the thresholds come from this card")
    args = ap.parse_args()
    thresholds = json.load(open(args.card))["thresholds"]
    rows = list(csv.DictReader(open(os.path.join(args.data, "manifest.csv"))))
    labels = np.array([r["label"] for r in rows])
    groups = np.array([r["dup_group"] for r in rows])
    y = (labels == "potato").astype(int)
    _, val_idx = group_split(labels, groups)
    runs = [(args.reference, reference_logits(args.reference, args.features, val_idx))] if args.reference else []
    runs += [(path, dict(np.load(path))) for path in args.runs]
    for name, logits in runs:
        score(
            name, logits, y[val_idx], labels[val_idx], groups[val_idx], thresholds["lower"], thresholds["upper"],
            labels, np.array([r["source"] for r in rows]),
        )


if __name__ == "__main__":
    main()
