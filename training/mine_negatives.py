"""Mine the look-alike negatives: the training split's `not_potato` photos a potato head mistakes
most for potatoes, for `finetune.py --mine` to weigh more.

Usage: python training/mine_negatives.py [--features training/out/features.npz] [--top 0.05]
Writes training/out/mined.csv (path, source, out-of-fold P(potato)).

Scores are out of fold: the training split is cut into 5 folds by dup_group, and each fold's
negatives are scored by a logistic-regression head on the backbone's pooled features trained on
the other four, so a photo is ranked by a head that never saw it. The validation split is never
touched (its negatives measure whether mining helped). Sweet potatoes, dishes and drawings are
left out: finetune.py already weighs them as hard negatives.
"""

import argparse
import os
import sys

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

sys.path.insert(0, os.path.dirname(__file__))
from train_head import SEED, fit, group_split, load_features, sigmoid  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--features", default="training/out/features.npz")
    ap.add_argument("--top", type=float, default=0.05, help="share of the training not_potato photos to mine")
    ap.add_argument("--out", default="training/out/mined.csv")
    args = ap.parse_args()

    rows, x, labels, sources, groups = load_features(args.data, args.features)
    y = (labels == "potato").astype(int)
    train_idx, _ = group_split(labels, groups)

    oof = np.full(len(rows), np.nan)
    folds = StratifiedGroupKFold(n_splits=5, shuffle=True, random_state=SEED)
    for fit_on, score_on in folds.split(train_idx, labels[train_idx], groups[train_idx]):
        clf = fit(x[train_idx[fit_on]], y[train_idx[fit_on]])
        oof[train_idx[score_on]] = sigmoid(clf.decision_function(x[train_idx[score_on]]))
    candidates = train_idx[labels[train_idx] == "not_potato"]
    k = max(1, int(round(args.top * len(candidates))))
    mined = candidates[np.argsort(-oof[candidates])[:k]]
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write("path,source,oof_p\n")
        for i in mined:
            f.write(f"{rows[i]['path']},{sources[i]},{oof[i]:.4f}\n")
    per_source = dict(zip(*np.unique(sources[mined], return_counts=True)))
    print(f"mined {k} of {len(candidates)} training not_potato photos (out-of-fold P >= {oof[mined].min():.3f}): "
          f"{ {str(s): int(n) for s, n in per_source.items()} }")


if __name__ == "__main__":
    main()
