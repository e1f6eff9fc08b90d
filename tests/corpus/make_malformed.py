#!/usr/bin/env python3
"""Writes the malformed-model regression corpus (tests/corpus/malformed/*.onnx).

Each file is broken in one way a user or an attacker could produce; every one
must load with a clear error. The fuzzer's crashing inputs, once fixed, belong
here too. Run with Debian's python3 (python3-onnx): /usr/bin/python3 make_malformed.py
"""
import os
import random

import onnx
from onnx import TensorProto, helper

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "malformed")


def mlp(nodes=None, inits=None, ir=8, opset=17):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])
    if inits is None:
        inits = [helper.make_tensor("w", TensorProto.FLOAT, [4, 2], [0.5] * 8)]
    if nodes is None:
        nodes = [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Relu", ["h"], ["y"])]
    g = helper.make_graph(nodes, "g", [x], [y], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = ir
    return m


def save(name, data):
    with open(os.path.join(OUT, name + ".onnx"), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.SerializeToString())


def main():
    os.makedirs(OUT, exist_ok=True)
    good = mlp().SerializeToString()
    rng = random.Random(1234)
    save("empty", b"")
    save("truncated_half", good[: len(good) // 2])
    save("truncated_last_byte", good[:-1])
    save("random_bytes", bytes(rng.randrange(256) for _ in range(512)))
    save("wrong_magic_zip", b"PK\x03\x04" + bytes(rng.randrange(256) for _ in range(200)))
    save("wrong_magic_png", b"\x89PNG\r\n\x1a\n" + bytes(200))
    save("text_file", b"this is not a model\n" * 10)
    save("cyclic_graph", mlp(nodes=[helper.make_node("Relu", ["y"], ["h"]), helper.make_node("Relu", ["h"], ["y"])]))
    save("missing_initializer", mlp(inits=[]))
    save("unknown_op", mlp(nodes=[helper.make_node("TotallyUnknownOp", ["x"], ["y"])]))
    big = helper.make_tensor("w", TensorProto.FLOAT, [4, 2], [0.5] * 8)
    del big.dims[:]
    big.dims.extend([1 << 31, 1 << 31, 1 << 31])
    save("absurd_dims_overflow", mlp(inits=[big]))
    huge = helper.make_tensor("w", TensorProto.FLOAT, [4, 2], [0.5] * 8)
    del huge.dims[:]
    huge.dims.extend([1 << 20, 1 << 20])
    save("absurd_dims_huge", mlp(inits=[huge]))
    neg = helper.make_tensor("w", TensorProto.FLOAT, [4, 2], [0.5] * 8)
    neg.dims[0] = -4
    save("negative_dim", mlp(inits=[neg]))
    raw = helper.make_tensor("w", TensorProto.FLOAT, [4, 2], b"\0" * 32, raw=True)
    raw.raw_data = b"\0" * 12
    save("raw_data_too_short", mlp(inits=[raw]))
    ext = helper.make_tensor("w", TensorProto.FLOAT, [4, 2], [0.5] * 8)
    ext.ClearField("float_data")
    ext.data_location = TensorProto.EXTERNAL
    ext.external_data.add(key="location", value="../../../../etc/passwd")
    save("external_path_traversal", mlp(inits=[ext]))
    ext2 = helper.make_tensor("w", TensorProto.FLOAT, [4, 2], [0.5] * 8)
    ext2.ClearField("float_data")
    ext2.data_location = TensorProto.EXTERNAL
    ext2.external_data.add(key="location", value="no_such_weights.bin")
    save("external_missing_file", mlp(inits=[ext2]))
    bad_type = helper.make_tensor("w", TensorProto.FLOAT, [4, 2], [0.5] * 8)
    bad_type.data_type = 99
    save("invalid_dtype", mlp(inits=[bad_type]))
    save("ir_version_0", mlp(ir=0))
    save("opset_too_new", mlp(opset=99))
    save("output_never_produced", mlp(nodes=[helper.make_node("MatMul", ["x", "w"], ["h"])]))
    save("duplicate_producer", mlp(nodes=[helper.make_node("MatMul", ["x", "w"], ["y"]), helper.make_node("Relu", ["x"], ["y"])]))
    # A node with a wrong wire type: field 4 (op_type) encoded as a varint.
    node = b"\x0a\x01x\x12\x01y\x20\x05"  # input 'x', output 'y', op_type as varint 5
    graph = b"\x0a" + bytes([len(node)]) + node
    save("wrong_wire_type", b"\x08\x08" + b"\x3a" + bytes([len(graph)]) + graph)
    # Subgraphs nested far deeper than any real model.
    inner = helper.make_graph([helper.make_node("Identity", ["c"], ["o"])], "b", [], [helper.make_tensor_value_info("o", TensorProto.BOOL, [])])
    leaf = inner
    for _ in range(80):
        inner = helper.make_graph([helper.make_node("If", ["c"], ["o"], then_branch=inner, else_branch=leaf)], "b", [], [helper.make_tensor_value_info("o", TensorProto.BOOL, [])])
    save("deeply_nested_subgraphs", helper.make_model(inner))
    # Flip bytes of a valid model: many are harmless, these ones are not.
    for k in range(5):
        data = bytearray(good)
        for _ in range(8):
            data[rng.randrange(8, len(data))] = rng.randrange(256)
        save(f"bitflips_{k}", bytes(data))
    print(f"wrote {len(os.listdir(OUT))} files to {OUT}")


if __name__ == "__main__":
    main()
