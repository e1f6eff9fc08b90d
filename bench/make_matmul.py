#!/usr/bin/python3
"""Writes a one-node fp32 MatMul model for the GEMM benchmark: Y[N,N] = A[N,N] @ B with B a
seeded constant initializer (so a backend may pack it once), plus A as .npy.

    /usr/bin/python3 bench/make_matmul.py N OUT.onnx A.npy
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def main(n, model_path, a_path):
    rng = np.random.default_rng(n)
    b = rng.uniform(-1, 1, (n, n)).astype(np.float32)
    a = rng.uniform(-1, 1, (n, n)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["A", "B"], ["Y"])], f"matmul_{n}",
        [helper.make_tensor_value_info("A", TensorProto.FLOAT, [n, n])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [n, n])],
        [numpy_helper.from_array(b, "B")])
    model = helper.make_model(graph, producer_name="tandem-bench", opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, model_path)
    np.save(a_path, a)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(int(sys.argv[1]), sys.argv[2], sys.argv[3])
