"""Would several waiting images be judged faster as one batch on the onnxruntime backend?

The backbone with its batch axis made symbolic (the export pins it to 1; no node depends on it:
Conv, Clip, Add, GlobalAveragePool, Flatten), run by onnxruntime with the settings the Rust
backend uses (one intra-op and one inter-op thread, all graph optimisations) at batch 1, 2 and
4, per-image time over alternating rounds. The Rust backend (`model/onnxruntime.rs`) is a thin
wrapper over the same C API and library, so the per-image cost at each batch is the library's.
Pin it to one core:

    taskset -c 0 python bench/batch_onnxruntime.py [--rounds 5] [--runs 8]
"""
import argparse
import statistics
import time

import numpy as np
import onnx
import onnxruntime as ort

BATCHES = (1, 2, 4)


def batch_free(path):
    model = onnx.load(path)
    for value in list(model.graph.input) + list(model.graph.output):
        value.type.tensor_type.shape.dim[0].dim_param = "N"
    del model.graph.value_info[:]  # recorded at batch 1
    return model.SerializeToString()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="models/efficientnet_lite0_features.onnx")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=8)
    args = parser.parse_args()
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(batch_free(args.model), options, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(7)
    inputs = {n: rng.uniform(-1, 1, (n, 3, 224, 224)).astype(np.float32) for n in BATCHES}
    one = session.run(None, {"input": inputs[1]})[0]
    four = session.run(None, {"input": np.concatenate([inputs[1]] * 4)})[0]
    assert np.abs(four - one).max() < 1e-4, "a batch gives the same features per image"
    per_image = {n: [] for n in BATCHES}
    for round_ in range(args.rounds):
        order = BATCHES[round_ % 3:] + BATCHES[: round_ % 3]
        for n in order:
            session.run(None, {"input": inputs[n]})  # warm-up
            times = []
            for _ in range(args.runs):
                started = time.perf_counter()
                session.run(None, {"input": inputs[n]})
                times.append((time.perf_counter() - started) * 1000 / n)
            per_image[n].append(statistics.median(times))
    print(f"onnxruntime {ort.__version__}, {args.rounds} rounds x {args.runs} runs, one thread; "
          "inference ms per image, median of the rounds' medians\n")
    print("| batch | ms per image | images/s | vs batch 1 |")
    print("|---|---|---|---|")
    base = statistics.median(per_image[1])
    for n in BATCHES:
        ms = statistics.median(per_image[n])
        print(f"| {n} | {ms:.2f} | {1000 / ms:.1f} | {base / ms:.2f}x |")


if __name__ == "__main__":
    main()
