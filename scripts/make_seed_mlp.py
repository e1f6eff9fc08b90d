#!/usr/bin/env python3
"""Writes the seed MLP (the README's embedded default model) with seeded weights.

    /usr/bin/python3 scripts/make_seed_mlp.py OUT.onnx [--sizes 784,4096,2048,10]

784 -> 256 -> 128 -> 10 with ReLU and a softmax head; dynamic batch. --sizes makes a wider one
(the hybrid main job's "too large for the budget" model: 784,4096,2048,10 is 46 MB).
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def main(path, sizes=(784, 256, 128, 10)):
    rng = np.random.default_rng(2026)
    inits, nodes = [], []
    prev = "input"
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        w = (rng.standard_normal((n_in, n_out)) / np.sqrt(n_in)).astype(np.float32)
        b = (0.01 * rng.standard_normal(n_out)).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"fc{i}.weight"), numpy_helper.from_array(b, f"fc{i}.bias")]
        nodes.append(helper.make_node("MatMul", [prev, f"fc{i}.weight"], [f"mm{i}"]))
        out = f"fc{i}" if i < len(sizes) - 2 else "logits"
        nodes.append(helper.make_node("Add", [f"mm{i}", f"fc{i}.bias"], [out]))
        if i < len(sizes) - 2:
            nodes.append(helper.make_node("Relu", [out], [f"relu{i}"]))
            prev = f"relu{i}"
    nodes.append(helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1))
    graph = helper.make_graph(
        nodes, "seed_mlp",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 784])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 10])],
        inits)
    model = helper.make_model(graph, producer_name="tandem-seed", opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    print(f"wrote {path}")


if __name__ == "__main__":
    args = sys.argv[1:]
    sizes = (784, 256, 128, 10)
    if "--sizes" in args:
        i = args.index("--sizes")
        sizes = [int(v) for v in args[i + 1].split(",")]
        del args[i:i + 2]
    main(args[0] if args else "seed_mlp.onnx", sizes)
