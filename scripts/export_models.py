#!/usr/bin/python3
"""Exports the model-parity test models to ONNX with seeded random weights.

Writes tests/models/generated/ (gitignored):
  <model>.onnx               the exported graph (weights inline)
  <model>/<input name>.npy   seeded inputs, one file per graph input
  manifest.json              models, their input and output names, and the stamp below

Models: torchvision ResNet-18 and MobileNetV2 (opset 13) and a small BERT-style encoder
(opset 17, so LayerNorm exports as LayerNormalization). Export is skipped when every file
exists and the stamp (hash of this script + torch/torchvision versions) is unchanged.

Run with Debian's interpreter: /usr/bin/python3 scripts/export_models.py [--out DIR] [--force]
"""
import argparse
import hashlib
import json
import math
import os
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(REPO, "tests", "models", "generated")


def log(msg):
    print(f"[export] {msg}", flush=True)


def script_stamp():
    """Hash of this script and the torch/torchvision versions, read without importing torch
    (which takes seconds), so the up-to-date check is fast."""
    from importlib import metadata

    h = hashlib.sha256()
    with open(os.path.abspath(__file__), "rb") as f:
        h.update(f.read())
    for pkg in ("torch", "torchvision", "onnx"):
        try:
            h.update(f"{pkg}={metadata.version(pkg)};".encode())
        except metadata.PackageNotFoundError:
            h.update(f"{pkg}=?;".encode())
    return h.hexdigest()


def up_to_date(out_dir, stamp):
    try:
        with open(os.path.join(out_dir, "manifest.json")) as f:
            old = json.load(f)
    except (OSError, ValueError):
        return False
    if old.get("stamp") != stamp:
        return False
    return all(os.path.exists(os.path.join(out_dir, m["file"]))
               and all(os.path.exists(os.path.join(out_dir, name, k + ".npy")) for k in m["inputs"])
               for name, m in old.get("models", {}).items())


# ---- models -----------------------------------------------------------------


def randomize_batchnorm(model, torch):
    """Gives every BatchNorm non-trivial statistics and affine parameters.

    Fresh torchvision models have mean 0 / var 1 / weight 1 / bias 0, which would make the
    folded Conv+BN weights identical to the conv's; random values exercise the folding and keep
    activations in a sane range (var near 1)."""
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            with torch.no_grad():
                m.running_mean.normal_(0.0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.1)


def calibrate_batchnorm(model, torch, batches=2):
    """Replaces the BatchNorm statistics with the ones the network's activations really have
    (on random pictures). With arbitrary statistics, MobileNetV2's activations grow layer by layer
    until every ReLU6 saturates, and the output no longer depends on the picture (logits of two
    pictures differed by 4e-7); calibrated, they differ as a trained network's do."""
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over the calibration batches
    model.train()
    gen = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for _ in range(batches):
            model(torch.randn(4, 3, 224, 224, generator=gen))
    model.eval()


def build_bert_encoder(torch, vocab=1000, hidden=192, layers=3, heads=4, ffn=768, max_pos=512):
    nn = torch.nn

    class SelfAttention(nn.Module):
        def __init__(self):
            super().__init__()
            self.heads, self.head_dim = heads, hidden // heads
            self.query = nn.Linear(hidden, hidden)
            self.key = nn.Linear(hidden, hidden)
            self.value = nn.Linear(hidden, hidden)
            self.out = nn.Linear(hidden, hidden)

        def split(self, x):  # [B, S, H] -> [B, heads, S, head_dim]
            b, s, _ = x.shape
            return x.view(b, s, self.heads, self.head_dim).permute(0, 2, 1, 3)

        def forward(self, x, mask_bias):
            q, k, v = self.split(self.query(x)), self.split(self.key(x)), self.split(self.value(x))
            scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim) + mask_bias
            ctx = torch.matmul(torch.softmax(scores, dim=-1), v)
            b, _, s, _ = ctx.shape
            return self.out(ctx.permute(0, 2, 1, 3).reshape(b, s, hidden))

    class Layer(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = SelfAttention()
            self.ln1 = nn.LayerNorm(hidden, eps=1e-12)
            self.ffn_in = nn.Linear(hidden, ffn)
            self.act = nn.GELU()  # exact (erf) GELU, as in BERT
            self.ffn_out = nn.Linear(ffn, hidden)
            self.ln2 = nn.LayerNorm(hidden, eps=1e-12)

        def forward(self, x, mask_bias):
            x = self.ln1(x + self.attn(x, mask_bias))
            return self.ln2(x + self.ffn_out(self.act(self.ffn_in(x))))

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.word = nn.Embedding(vocab, hidden)
            self.position = nn.Embedding(max_pos, hidden)
            self.token_type = nn.Embedding(2, hidden)
            self.ln = nn.LayerNorm(hidden, eps=1e-12)
            self.layers = nn.ModuleList([Layer() for _ in range(layers)])
            self.pool = nn.Linear(hidden, hidden)
            self.register_buffer("position_ids", torch.arange(max_pos).unsqueeze(0), persistent=False)

        def forward(self, input_ids, attention_mask):
            seq = input_ids.shape[1]
            x = self.word(input_ids) + self.position(self.position_ids[:, :seq]) + self.token_type.weight[0]
            x = self.ln(x)
            # [B, S] 1/0 mask -> additive bias [B, 1, 1, S], as in HF BERT.
            mask_bias = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * -10000.0
            for layer in self.layers:
                x = layer(x, mask_bias)
            pooled = torch.tanh(self.pool(x[:, 0]))
            return x, pooled

    model = Encoder()
    # BERT's initializer: N(0, 0.02) weights, zero biases; LayerNorm gets mild random affine
    # parameters so it is not the identity.
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                m.weight.normal_(0.0, 0.02)
                if isinstance(m, nn.Linear):
                    m.bias.normal_(0.0, 0.02)
            elif isinstance(m, nn.LayerNorm):
                m.weight.uniform_(0.8, 1.2)
                m.bias.normal_(0.0, 0.05)
    return model


def model_specs(torch, torchvision, np):
    """(name, builder, inputs as ordered {name: np.ndarray}, output names, dynamic axes, opset)."""

    def image_input(seed):
        rng = np.random.RandomState(seed)
        return {"input": rng.standard_normal((1, 3, 224, 224)).astype(np.float32)}

    def resnet18():
        m = torchvision.models.resnet18(weights=None)
        randomize_batchnorm(m, torch)
        return m

    def mobilenetv2():
        m = torchvision.models.mobilenet_v2(weights=None)
        randomize_batchnorm(m, torch)
        calibrate_batchnorm(m, torch)
        with torch.no_grad():  # torchvision's N(0, 0.01) classifier gives logits ~0.05; widen them
            m.classifier[1].weight.normal_(0.0, 0.05)
        return m

    def bert_inputs(seed, seq=128, vocab=1000, valid=100):
        rng = np.random.RandomState(seed)
        ids = rng.randint(1, vocab, size=(1, seq)).astype(np.int64)
        ids[0, 0] = 101 % vocab  # a fixed "[CLS]"-like first token
        mask = np.zeros((1, seq), dtype=np.int64)
        mask[0, :valid] = 1  # the tail is padding, so the mask matters
        ids[0, valid:] = 0
        return {"input_ids": ids, "attention_mask": mask}

    image_axes = {"input": {0: "batch"}, "logits": {0: "batch"}}
    bert_axes = {
        "input_ids": {0: "batch"},
        "attention_mask": {0: "batch"},
        "last_hidden_state": {0: "batch"},
        "pooler_output": {0: "batch"},
    }
    return [
        ("resnet18", resnet18, image_input(1), ["logits"], image_axes, 13),
        ("mobilenetv2", mobilenetv2, image_input(2), ["logits"], image_axes, 13),
        ("bert_encoder", lambda: build_bert_encoder(torch), bert_inputs(3), ["last_hidden_state", "pooler_output"], bert_axes, 17),
    ]


def export_one(torch, onnx, np, out_dir, name, build, inputs, output_names, dynamic_axes, opset, seed):
    t0 = time.time()
    torch.manual_seed(seed)
    model = build()
    model.eval()
    args = tuple(torch.from_numpy(v) for v in inputs.values())
    path = os.path.join(out_dir, name + ".onnx")
    tmp = path + ".tmp"
    with torch.no_grad():
        torch.onnx.export(model, args, tmp, opset_version=opset, do_constant_folding=True,
                          input_names=list(inputs), output_names=output_names, dynamic_axes=dynamic_axes)
    m = onnx.load(tmp)
    onnx.checker.check_model(m)
    ops = sorted({n.op_type for n in m.graph.node})
    os.replace(tmp, path)

    in_dir = os.path.join(out_dir, name)
    os.makedirs(in_dir, exist_ok=True)
    for k, v in inputs.items():
        np.save(os.path.join(in_dir, k + ".npy"), np.ascontiguousarray(v))
    params = sum(p.numel() for p in model.parameters())
    log(f"{name}: opset {opset}, {params / 1e6:.2f}M parameters, {len(m.graph.node)} nodes, "
        f"{os.path.getsize(path) / 2**20:.1f} MiB, {time.time() - t0:.1f}s")
    log(f"{name}: ops {' '.join(ops)}")
    return {"file": name + ".onnx", "inputs": list(inputs), "outputs": output_names, "opset": opset, "ops": ops}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=DEFAULT_OUT, help="output directory (default: tests/models/generated)")
    ap.add_argument("--force", action="store_true", help="re-export even if up to date")
    opts = ap.parse_args()

    os.makedirs(opts.out, exist_ok=True)
    stamp = script_stamp()
    manifest_path = os.path.join(opts.out, "manifest.json")
    if not opts.force and up_to_date(opts.out, stamp):
        log(f"up to date in {opts.out} (script unchanged); use --force to re-export")
        return

    log("importing torch")
    try:
        import numpy as np
        import onnx
        import torch
        import torchvision
    except ImportError as e:
        sys.exit(f"export_models.py: {e}; install Debian's python3-torch python3-torchvision python3-onnx "
                 f"and run with /usr/bin/python3")
    specs = model_specs(torch, torchvision, np)

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    log(f"exporting {len(specs)} models to {opts.out} (torch {torch.__version__}, "
        f"torchvision {torchvision.__version__}, onnx {onnx.__version__})")
    models = {}
    for seed, (name, build, inputs, outputs, axes, opset) in enumerate(specs):
        models[name] = export_one(torch, onnx, np, opts.out, name, build, inputs, outputs, axes, opset, seed)
    with open(manifest_path + ".tmp", "w") as f:
        json.dump({"stamp": stamp, "models": models}, f, indent=1)
    os.replace(manifest_path + ".tmp", manifest_path)  # written last: its presence means "complete"
    log("done")


if __name__ == "__main__":
    main()
