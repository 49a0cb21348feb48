"""Train the four-way answer head (potato / sweet potato / potato dish / something else) on the
shipped backbone's pooled features and add it to the model card.

Usage: python training/train_kinds.py --data ../shared/data --features training/out/features.npz \
           --card models/ispotato.json [--version 0.5.0]

Run after train_head.py (which rewrites the card without this head). The binary head, its
calibration and its thresholds stay the verdict's basis: this head only names what a `not potato`
is when it is a sweet potato or a potato dish. Protocol: the card's split (StratifiedGroupKFold by
dup_group, fold 0 validation), multinomial logistic regression with balanced class weights, a
temperature fitted on validation (NLL) folded into the weights. Leave-one-source-out: every source
in turn is left out of training (with any dup_group it shares) and predicted by a head that never
saw it; the confusion matrix sums those held-out predictions over every source. The backbone is
the shipped one (its last block was fine-tuned on the training split), so these held-out numbers
measure the head, not the whole network.
"""

import argparse
import datetime
import json
import os
import sys

import numpy as np
from scipy.optimize import minimize_scalar
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, os.path.dirname(__file__))
from train_head import group_split, load_features, sigmoid  # noqa: E402

SEED = 0
C = 0.5
# The head's classes, in the card's order. Drawings and every other negative are `other`.
KINDS = ["potato", "sweet_potato", "potato_dish", "other"]


def kind_of(label):
    return label if label in KINDS else "other"


def fit(x, k):
    clf = LogisticRegression(C=C, class_weight="balanced", max_iter=5000, random_state=SEED)
    clf.fit(x, k)
    assert len(clf.classes_) > 2, "the four-way head needs at least three classes in training"
    # Columns in KINDS order whatever classes the training set held (a class absent from training
    # never wins).
    weights = np.zeros((len(KINDS), x.shape[1]))
    bias = np.full(len(KINDS), -1e4)
    for row, c in enumerate(clf.classes_):
        weights[c], bias[c] = clf.coef_[row], clf.intercept_[row]
    return weights, bias


def softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(logits, k):
    def nll(t):
        p = softmax(logits / t)
        return -np.mean(np.log(np.clip(p[np.arange(len(k)), k], 1e-12, 1.0)))

    return float(minimize_scalar(nll, bounds=(0.05, 20.0), method="bounded").x)


def confusion(true, predicted):
    m = np.zeros((len(KINDS), len(KINDS)), int)
    for t, p in zip(true, predicted):
        m[t, p] += 1
    return m


def summary(m):
    """Accuracy, per-class recall and precision of a confusion matrix (rows true, columns predicted)."""
    out = {"labels": KINDS, "confusion": m.tolist(), "n": int(m.sum()), "accuracy": float(np.trace(m) / max(m.sum(), 1))}
    for i, k in enumerate(KINDS):
        out[k] = {
            "n": int(m[i].sum()),
            "recall": float(m[i, i] / m[i].sum()) if m[i].sum() else None,
            "precision": float(m[i, i] / m[:, i].sum()) if m[:, i].sum() else None,
        }
    return out


def named(p_potato, kinds, lower):
    """What a reply names, as the Rust verdict does: a sweet potato or a potato dish when the binary
    verdict is `not potato` (P below `lower`) and that class wins the four-way head; else nothing."""
    out = np.full(len(kinds), "", dtype=object)
    for i, (p, k) in enumerate(zip(p_potato, kinds)):
        if p < lower and KINDS[k] in ("sweet_potato", "potato_dish"):
            out[i] = KINDS[k]
    return out


def naming_rates(names, labels):
    """Per true label: the share of images a reply names as a sweet potato, as a potato dish."""
    return {
        label: {
            "n": int((labels == label).sum()),
            "named_sweet_potato": float((names[labels == label] == "sweet_potato").mean()),
            "named_potato_dish": float((names[labels == label] == "potato_dish").mean()),
        }
        for label in sorted(set(labels))
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--features", default="training/out/features.npz")
    ap.add_argument("--card", default="models/ispotato.json")
    ap.add_argument("--version", help="new card version (the head changes what replies say)")
    ap.add_argument("--report", default="training/out/kinds.json")
    args = ap.parse_args()

    rows, x, labels, sources, groups = load_features(args.data, args.features)
    k = np.array([KINDS.index(kind_of(l)) for l in labels])

    card = json.load(open(args.card))
    head_w = np.array(card["head"]["weights"], np.float64)
    head_b = float(card["head"]["bias"])
    temperature_binary = float(card["calibration"]["temperature"])
    lower = float(card["thresholds"]["lower"])
    p_potato = sigmoid((x @ head_w + head_b) / temperature_binary)

    train_idx, val_idx = group_split(labels, groups)
    weights, bias = fit(x[train_idx], k[train_idx])
    temperature = fit_temperature(x[val_idx] @ weights.T + bias, k[val_idx])
    weights, bias = weights / temperature, bias / temperature
    print(f"four-way head: temperature {temperature:.3f} folded into the weights")

    val_pred = (x[val_idx] @ weights.T + bias).argmax(axis=1)
    validation = summary(confusion(k[val_idx], val_pred))
    validation["temperature"] = temperature
    validation["replies"] = naming_rates(named(p_potato[val_idx], val_pred, lower), labels[val_idx])
    print("validation:", json.dumps({kk: v for kk, v in validation.items() if kk != "replies"}))
    print("replies:", json.dumps(validation["replies"]))

    # Leave-one-source-out: each source predicted by a head that never saw it.
    is_train = np.zeros(len(rows), bool)
    is_train[train_idx] = True
    loso_pred = np.full(len(rows), -1)
    per_source = {}
    for s in sorted(set(sources)):
        held = sources == s
        train = is_train & ~held & ~np.isin(groups, list(set(groups[held])))
        w, b = fit(x[train], k[train])
        pred = (x[held] @ (w / temperature).T + b / temperature).argmax(axis=1)
        loso_pred[held] = pred
        m = confusion(k[held], pred)
        per_source[s] = {kind: int(m[i].sum()) for i, kind in enumerate(KINDS) if m[i].sum()}
        per_source[s]["accuracy"] = float(np.trace(m) / m.sum())
        print(f"leave out {s}: {per_source[s]}")
    loso = summary(confusion(k, loso_pred))
    loso["per_source"] = per_source
    loso["replies"] = naming_rates(named(p_potato, loso_pred, lower), labels)
    print("leave-one-source-out:", json.dumps({kk: v for kk, v in loso.items() if kk not in ("per_source", "replies")}))

    card["kinds"] = {
        "labels": KINDS,
        "weights": [[float(v) for v in row] for row in weights],
        "bias": [float(v) for v in bias],
    }
    card["training"]["kinds"] = (
        "multinomial logistic regression (C 0.5, balanced classes) on the backbone's pooled features, "
        "training split; temperature fitted on validation and folded in (training/train_kinds.py); "
        "drawings and every other negative are `other`"
    )
    card["metrics"]["kinds"] = {"validation": validation, "leave_one_source_out": loso}
    answers = "; four-way answer head (potato, sweet potato, potato dish, other) over the same features"
    card["description"] = card["description"].split(answers)[0] + answers
    if args.version:
        card["version"] = args.version
        card["created"] = datetime.date.today().isoformat()
    with open(args.card, "w") as f:
        json.dump(card, f, indent=1)
        f.write("\n")
    os.makedirs(os.path.dirname(args.report), exist_ok=True)
    with open(args.report, "w") as f:
        json.dump(card["metrics"]["kinds"], f, indent=1)
    print(f"wrote the four-way head into {args.card}")


if __name__ == "__main__":
    main()
