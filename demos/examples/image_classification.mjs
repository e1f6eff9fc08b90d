#!/usr/bin/env node
// Image classification with MobileNetV2: PNG files in, top-5 ImageNet classes out. Preprocessing
// as torchvision's: shorter side to 256, centre crop 224, bilinear, ImageNet mean/std, NCHW.
//
//   node demos/examples/image_classification.mjs [picture.png ...] [--top 5] [--placement ...]
// Without pictures it classifies two drawn ones (a gradient and a checkerboard).
import { readFileSync } from 'node:fs';
import path from 'node:path';

import pngjs from 'pngjs';
import { ExampleError, REPO, intOption, runExample } from './common.mjs';

const USAGE = 'usage: node demos/examples/image_classification.mjs [picture.png ...] [--top K]';
const MEAN = [0.485, 0.456, 0.406], STD = [0.229, 0.224, 0.225];

// { width, height, rgba } for a file, or an ExampleError that names it.
function readPicture(file) {
  let bytes;
  try { bytes = readFileSync(file); } catch (e) { throw new ExampleError(`${file}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`); }
  try {
    const png = pngjs.PNG.sync.read(bytes);  // any bit depth, palette, interlace: 8-bit RGBA out
    return { width: png.width, height: png.height, rgba: png.data };
  } catch (e) { throw new ExampleError(`${file}: not a PNG this example can read (${e.message})`); }
}

function drawn() {
  const size = 256, rgba = (f) => { const d = new Uint8Array(size * size * 4); for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) d.set([...f(x, y), 255], (y * size + x) * 4); return d; };
  return [
    { name: 'gradient', width: size, height: size, rgba: rgba((x, y) => [x, y, 255 - x]) },
    { name: 'checkerboard', width: size, height: size, rgba: rgba((x, y) => (((x >> 5) + (y >> 5)) & 1 ? [250, 250, 250] : [10, 10, 10])) },
  ];
}

// Resize (bilinear) so the shorter side is 256, take the centre 224 x 224, normalise: [1, 3, 224, 224].
function preprocess({ width, height, rgba }) {
  const scale = 256 / Math.min(width, height);
  const x0 = (width * scale - 224) / 2, y0 = (height * scale - 224) / 2;
  const out = new Float32Array(3 * 224 * 224);
  for (let y = 0; y < 224; y++) {
    const sy = Math.min(height - 1, Math.max(0, (y + y0 + 0.5) / scale - 0.5));
    const ya = Math.floor(sy), yb = Math.min(height - 1, ya + 1), fy = sy - ya;
    for (let x = 0; x < 224; x++) {
      const sx = Math.min(width - 1, Math.max(0, (x + x0 + 0.5) / scale - 0.5));
      const xa = Math.floor(sx), xb = Math.min(width - 1, xa + 1), fx = sx - xa;
      for (let c = 0; c < 3; c++) {
        const p = (yy, xx) => rgba[(yy * width + xx) * 4 + c];
        const v = (p(ya, xa) * (1 - fx) + p(ya, xb) * fx) * (1 - fy) + (p(yb, xa) * (1 - fx) + p(yb, xb) * fx) * fy;
        out[c * 224 * 224 + y * 224 + x] = (v / 255 - MEAN[c]) / STD[c];
      }
    }
  }
  return out;
}

function labels() {
  try { return JSON.parse(readFileSync(path.join(REPO, 'build', 'examples', 'models', 'imagenet_labels.json'), 'utf8')); } catch { return null; }
}

runExample(USAGE, { top: { type: 'string', default: '5' } }, async ({ options, open, Tensor }) => {
  const top = intOption(options, 'top', 1, 1000);
  const pictures = options.positionals.length
    ? options.positionals.map((f) => ({ name: path.basename(f), ...readPicture(f) }))
    : drawn();
  const names = labels();
  const model = await open('mobilenetv2');
  const results = [];
  for (const picture of pictures) {
    const { logits } = await model.run({ input: new Tensor('float32', preprocess(picture), [1, 3, 224, 224]) });
    const order = Array.from(logits.data.keys()).sort((i, j) => logits.data[j] - logits.data[i]).slice(0, top);
    console.log(`${picture.name}: ${order.map((i) => `${names?.[i] ?? `class ${i}`} (${logits.data[i].toFixed(2)})`).join(', ')}`);
    results.push({ picture: picture.name, top: order });
  }
  return results;
});
