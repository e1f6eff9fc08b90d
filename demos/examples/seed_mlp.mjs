#!/usr/bin/env node
// The seed scenario: an MLP (Dense 100-64-64-10, softmax) exported two ways, from PyTorch
// (nn.Sequential -> Gemm) and from a Keras-style definition (tf2onnx's layout: MatMul + Add).
// The two files hold the same weights, so they must give the same probabilities, wherever they run.
//
//   node demos/examples/seed_mlp.mjs [--rows 4] [--placement auto|local|remote] [--server URL]
import { intOption, runExample, uniform } from './common.mjs';

const USAGE = 'usage: node demos/examples/seed_mlp.mjs [--rows N]   (N rows of 100 features, default 4)';

runExample(USAGE, { rows: { type: 'string', default: '4' } }, async ({ options, open, Tensor }) => {
  const rows = intOption(options, 'rows', 1, 4096);
  const features = new Tensor('float32', uniform(rows * 100, 1).map((v) => 6 * v - 3), [rows, 100]);  // in [-3, 3)
  const torch = await open('seed_mlp_torch');
  const keras = await open('seed_mlp_keras');
  // Each export keeps its framework's names: PyTorch's as given to torch.onnx.export, Keras'
  // input_1 -> dense_2 (the last layer's name).
  const a = (await torch.run({ features })).probabilities.data;
  const b = (await keras.run({ input_1: features })).dense_2.data;
  let maxDiff = 0;
  const classes = [];
  for (let r = 0; r < rows; r++) {
    const row = a.subarray(r * 10, r * 10 + 10);
    const best = row.indexOf(Math.max(...row));
    classes.push(best);
    if (r < 8) console.log(`row ${r}: class ${best} (p = ${row[best].toFixed(4)})`);
  }
  for (let i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
  console.log(`PyTorch vs Keras-style export: max |difference| = ${maxDiff.toExponential(2)}`);
  return { classes, maxDiff };
});
