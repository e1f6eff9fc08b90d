#!/usr/bin/env python3
"""Writes the model repository the serve tests use.

    /usr/bin/python3 tests/serve/make_repository.py DIR

seed_mlp (versions 1 and 2), batched_mlp (dynamic batching), unloadable (for unload under
load), slow (a chain of 512x512 MatMuls, queue of 1: backpressure), slow_deadline (the same,
two instances and the default queue: deadlines, draining), identity_<dtype> per OIP datatype,
and broken (not ONNX).
"""
import json
import os
import shutil
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
import make_seed_mlp  # noqa: E402

DTYPES = {
    "bool": TensorProto.BOOL, "uint8": TensorProto.UINT8, "uint16": TensorProto.UINT16,
    "uint32": TensorProto.UINT32, "uint64": TensorProto.UINT64, "int8": TensorProto.INT8,
    "int16": TensorProto.INT16, "int32": TensorProto.INT32, "int64": TensorProto.INT64,
    "fp16": TensorProto.FLOAT16, "fp32": TensorProto.FLOAT, "fp64": TensorProto.DOUBLE,
    "bytes": TensorProto.STRING,
}


def save(model, path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)


def identity(elem):
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])], "identity",
        [helper.make_tensor_value_info("x", elem, ["n", "m"])],
        [helper.make_tensor_value_info("y", elem, ["n", "m"])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def slow(layers=48, width=512):
    rng = np.random.default_rng(7)
    w = (rng.standard_normal((width, width)) / np.sqrt(width)).astype(np.float32)
    nodes, prev = [], "x"
    for i in range(layers):
        nodes.append(helper.make_node("MatMul", [prev, "w"], [f"h{i}"]))
        prev = f"h{i}"
    nodes.append(helper.make_node("Identity", [prev], ["y"]))
    graph = helper.make_graph(
        nodes, "slow", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", width])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", width])], [numpy_helper.from_array(w, "w")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def main(root):
    shutil.rmtree(root, ignore_errors=True)
    seed = os.path.join(root, "seed_mlp", "1", "model.onnx")
    os.makedirs(os.path.dirname(seed))
    make_seed_mlp.main(seed)
    for name in ["seed_mlp/2", "batched_mlp/1", "unloadable/1"]:
        os.makedirs(os.path.join(root, name))
        shutil.copy(seed, os.path.join(root, name, "model.onnx"))
    with open(os.path.join(root, "batched_mlp", "config.json"), "w") as f:
        json.dump({"max_batch_size": 8, "dynamic_batching": {"max_queue_delay_us": 100000},
                   "inputs": ["input"], "outputs": ["probabilities"]}, f)
    save(slow(), os.path.join(root, "slow", "1", "model.onnx"))
    with open(os.path.join(root, "slow", "config.json"), "w") as f:
        json.dump({"max_queue_size": 1}, f)
    os.makedirs(os.path.join(root, "slow_deadline", "1"))
    shutil.copy(os.path.join(root, "slow", "1", "model.onnx"), os.path.join(root, "slow_deadline", "1"))
    with open(os.path.join(root, "slow_deadline", "config.json"), "w") as f:
        json.dump({"instance_count": 2}, f)
    for name, elem in DTYPES.items():
        save(identity(elem), os.path.join(root, f"identity_{name}", "1", "model.onnx"))
    os.makedirs(os.path.join(root, "broken", "1"))
    with open(os.path.join(root, "broken", "1", "model.onnx"), "wb") as f:
        f.write(b"this is not an onnx model")


if __name__ == "__main__":
    main(sys.argv[1])
