#!/usr/bin/python3
"""Writes the examples' models into build/examples/models (or DIR), with seeded weights:

  seed_mlp_torch.onnx   the seed MLP (Dense 100-64-64-10, softmax) as PyTorch exports it (Gemm)
  seed_mlp_keras.onnx   the same network defined Keras-style and laid out as tf2onnx writes a
                        Keras model (MatMul + BiasAdd, kernels [in, out], tf-style names); the
                        weights are the PyTorch model's, so both files compute the same function
  text_classifier.onnx  the BERT-style encoder of the model-parity set with a 2-class head
  recommender.onnx      user and item embeddings (Gather) + an MLP scoring each (user, item) pair
  imagenet_labels.json  ImageNet's class names (from torchvision), for image classification

Skipped when every file exists and this script is unchanged (a stamp in DIR/stamp.txt).
Image classification uses MobileNetV2 from tests/models/generated (tests/models/prepare.sh).

    /usr/bin/python3 demos/examples/make_models.py [DIR] [--force]
"""
import hashlib
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
FILES = ("seed_mlp_torch.onnx", "seed_mlp_keras.onnx", "text_classifier.onnx", "recommender.onnx",
         "imagenet_labels.json")
USERS, ITEMS, FACTORS = 1000, 5000, 32


def log(msg):
    print(f"[examples] {msg}", flush=True)


# ---- a Keras-style definition ----------------------------------------------------------------
# Keras is not in Debian (no tf/keras to import here), so the seed MLP's Keras definition is
# written against this small stand-in for keras.Sequential / keras.layers.Dense, and exported the
# way tf2onnx exports such a model: y = x @ kernel + bias per layer, kernels shaped [in, out],
# names such as "sequential/dense_1/MatMul", a symbolic batch "unk__N".

class Input:
    def __init__(self, shape, name="input_1"):
        self.shape, self.name = shape, name


class Dense:
    count = 0

    def __init__(self, units, activation=None):
        self.units, self.activation = units, activation
        self.name = "dense" if Dense.count == 0 else f"dense_{Dense.count}"
        Dense.count += 1
        self.kernel = self.bias = None


class Sequential:
    def __init__(self, layers, name="sequential"):
        self.input, self.layers, self.name = layers[0], layers[1:], name
        width, rng = self.input.shape[-1], np.random.default_rng(7)
        for layer in self.layers:  # glorot-uniform kernels, zero biases: Keras' defaults
            limit = (6.0 / (width + layer.units)) ** 0.5
            layer.kernel = rng.uniform(-limit, limit, (width, layer.units)).astype(np.float32)
            layer.bias = np.zeros(layer.units, np.float32)
            width = layer.units

    def set_weights(self, weights):  # [kernel0, bias0, kernel1, bias1, ...], as Keras orders them
        for layer, (k, b) in zip(self.layers, zip(weights[0::2], weights[1::2])):
            assert k.shape == layer.kernel.shape and b.shape == layer.bias.shape
            layer.kernel, layer.bias = k, b

    def to_onnx(self, onnx):
        from onnx import TensorProto, helper, numpy_helper
        nodes, inits, prev = [], [], self.input.name
        for layer in self.layers:
            scope = f"{self.name}/{layer.name}"
            k, b = f"{scope}/MatMul/ReadVariableOp:0", f"{scope}/BiasAdd/ReadVariableOp:0"
            inits += [numpy_helper.from_array(layer.kernel, k), numpy_helper.from_array(layer.bias, b)]
            nodes.append(helper.make_node("MatMul", [prev, k], [f"{scope}/MatMul:0"], name=f"{scope}/MatMul"))
            out = f"{scope}/BiasAdd:0"
            nodes.append(helper.make_node("Add", [f"{scope}/MatMul:0", b], [out], name=f"{scope}/BiasAdd"))
            if layer.activation == "relu":
                nodes.append(helper.make_node("Relu", [out], [f"{scope}/Relu:0"], name=f"{scope}/Relu"))
                out = f"{scope}/Relu:0"
            elif layer.activation == "softmax":
                nodes.append(helper.make_node("Softmax", [out], [layer.name], name=f"{scope}/Softmax", axis=-1))
                out = layer.name
            prev = out
        last = self.layers[-1]
        graph = helper.make_graph(
            nodes, "tf2onnx",
            [helper.make_tensor_value_info(self.input.name, TensorProto.FLOAT, ["unk__6", self.input.shape[-1]])],
            [helper.make_tensor_value_info(prev, TensorProto.FLOAT, ["unk__7", last.units])], inits)
        model = helper.make_model(graph, producer_name="tf2onnx", producer_version="1.16.1",
                                  opset_imports=[helper.make_opsetid("", 13)])
        model.ir_version = 7
        return model


# ---- the models ------------------------------------------------------------------------------

def seed_mlps(torch, onnx, out):
    torch.manual_seed(100)
    nn = torch.nn
    mlp = nn.Sequential(nn.Linear(100, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10),
                        nn.Softmax(dim=-1)).eval()
    with torch.no_grad():  # He initialisation: PyTorch's default leaves one class on top for every input
        for m in mlp:
            if isinstance(m, nn.Linear):
                nn.init.kaiming_normal_(m.weight)
                nn.init.normal_(m.bias, 0.0, 0.1)
    export(torch, onnx, mlp, (torch.rand(1, 100),), os.path.join(out, "seed_mlp_torch.onnx"),
           ["features"], ["probabilities"], {"features": {0: "batch"}, "probabilities": {0: "batch"}}, 17)

    keras = Sequential([Input((100,)), Dense(64, activation="relu"), Dense(64, activation="relu"),
                        Dense(10, activation="softmax")])
    linears = [m for m in mlp if isinstance(m, nn.Linear)]
    keras.set_weights([w for m in linears for w in (m.weight.detach().numpy().T.copy(), m.bias.detach().numpy())])
    model = keras.to_onnx(onnx)
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(out, "seed_mlp_keras.onnx"))
    log("seed_mlp_keras.onnx: the same weights, tf2onnx layout (MatMul + Add, opset 13)")


def text_classifier(torch, onnx, out):
    sys.path.insert(0, os.path.join(REPO, "scripts"))
    from export_models import build_bert_encoder

    torch.manual_seed(200)

    class Classifier(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = build_bert_encoder(torch, layers=2)
            self.head = torch.nn.Linear(192, 2)
            # BERT's N(0, 0.02) leaves an untrained encoder's pooled output nearly the same for
            # every sentence; wider weights make the (meaningless) answers differ between inputs.
            with torch.no_grad():
                for m in self.modules():
                    if isinstance(m, (torch.nn.Linear, torch.nn.Embedding)):
                        m.weight.normal_(0.0, 0.06)
                self.head.weight.normal_(0.0, 0.3)

        def forward(self, input_ids, attention_mask):
            _, pooled = self.encoder(input_ids, attention_mask)
            return torch.softmax(self.head(pooled), dim=-1)

    ids = torch.randint(1, 1000, (1, 32))
    axes = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"},
            "probabilities": {0: "batch"}}
    export(torch, onnx, Classifier().eval(), (ids, torch.ones_like(ids)), os.path.join(out, "text_classifier.onnx"),
           ["input_ids", "attention_mask"], ["probabilities"], axes, 17)


def recommender(torch, onnx, out):
    torch.manual_seed(300)
    nn = torch.nn

    class Recommender(nn.Module):
        """Scores (user, item) pairs: both embeddings, their product, an MLP, a sigmoid."""

        def __init__(self):
            super().__init__()
            self.users = nn.Embedding(USERS, FACTORS)
            self.items = nn.Embedding(ITEMS, FACTORS)
            self.mlp = nn.Sequential(nn.Linear(3 * FACTORS, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU(),
                                     nn.Linear(32, 1))

        def forward(self, user_ids, item_ids):
            u, i = self.users(user_ids), self.items(item_ids)
            return torch.sigmoid(self.mlp(torch.cat([u, i, u * i], dim=-1))).squeeze(-1)

    n = torch.arange(8)
    export(torch, onnx, Recommender().eval(), (n, n), os.path.join(out, "recommender.onnx"),
           ["user_ids", "item_ids"], ["scores"], {"user_ids": {0: "pairs"}, "item_ids": {0: "pairs"},
                                                  "scores": {0: "pairs"}}, 17)


def imagenet_labels(out):
    """ImageNet's class names, from Debian's torchvision (no download)."""
    import json

    import torchvision
    with open(os.path.join(out, "imagenet_labels.json"), "w") as f:
        json.dump(torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1.meta["categories"], f)


def export(torch, onnx, module, args, path, inputs, outputs, axes, opset):
    tmp = path + ".tmp"
    with torch.no_grad():
        torch.onnx.export(module, args, tmp, opset_version=opset, input_names=inputs, output_names=outputs,
                          dynamic_axes=axes, do_constant_folding=True)
    model = onnx.load(tmp)
    onnx.checker.check_model(model)
    os.replace(tmp, path)
    ops = sorted({n.op_type for n in model.graph.node})
    log(f"{os.path.basename(path)}: opset {opset}, {len(model.graph.node)} nodes ({' '.join(ops)}), "
        f"{os.path.getsize(path) / 2**20:.1f} MiB")


def main():
    args = [a for a in sys.argv[1:] if a != "--force"]
    out = os.path.abspath(args[0] if args else os.path.join(REPO, "build", "examples", "models"))
    with open(os.path.abspath(__file__), "rb") as f:
        stamp = hashlib.sha256(f.read()).hexdigest()
    stamp_file = os.path.join(out, "stamp.txt")
    current = os.path.exists(stamp_file) and open(stamp_file).read() == stamp
    if current and "--force" not in sys.argv and all(os.path.exists(os.path.join(out, f)) for f in FILES):
        log(f"up to date in {out}")
        return
    try:
        import onnx
        import torch
    except ImportError as e:
        sys.exit(f"make_models.py: {e}; install Debian's python3-torch and python3-onnx (scripts/setup does) "
                 f"and run with /usr/bin/python3")
    os.makedirs(out, exist_ok=True)
    log(f"exporting the examples' models to {out}")
    seed_mlps(torch, onnx, out)
    text_classifier(torch, onnx, out)
    recommender(torch, onnx, out)
    imagenet_labels(out)
    with open(stamp_file, "w") as f:
        f.write(stamp)


if __name__ == "__main__":
    main()
