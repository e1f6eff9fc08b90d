// A deterministic synthetic test picture and its ImageNet-normalised input tensor.
//
// Pure integer and float arithmetic (no canvas, no Math.sin/exp), so Node and any browser
// produce bit-identical pixels and tensors. The browser page paints `rgba` onto a canvas for
// display; the test computes the same tensor in Node and feeds it to onnxruntime-node.
export const SIZE = 224;
export const MEAN = [0.485, 0.456, 0.406];
export const STD = [0.229, 0.224, 0.225];

// RGBA pixels (Uint8ClampedArray, row-major, width*height*4): a diagonal colour gradient, a
// filled disc, a rectangle with a darker frame, a checkerboard band and a thin grid.
export function drawSynthetic(width = SIZE, height = SIZE) {
  const px = new Uint8ClampedArray(width * height * 4);
  const cx = Math.floor(width * 0.36);
  const cy = Math.floor(height * 0.4);
  const r = Math.floor(Math.min(width, height) * 0.2);
  const rect = [Math.floor(width * 0.55), Math.floor(height * 0.58), Math.floor(width * 0.9), Math.floor(height * 0.86)];
  for (let y = 0; y < height; ++y) {
    for (let x = 0; x < width; ++x) {
      // Background: red grows to the right, green downwards, blue along the anti-diagonal.
      let R = Math.floor((x * 255) / Math.max(1, width - 1));
      let G = Math.floor((y * 255) / Math.max(1, height - 1));
      let B = Math.floor(((width - 1 - x + y) * 255) / Math.max(1, width + height - 2));
      // Thin grid every 28 pixels.
      if (x % 28 === 0 || y % 28 === 0) {
        R >>= 1; G >>= 1; B >>= 1;
      }
      // Checkerboard band across the top.
      if (y >= Math.floor(height * 0.06) && y < Math.floor(height * 0.16)) {
        const on = ((x >> 3) + (y >> 3)) & 1;
        R = on ? 250 : 20; G = on ? 250 : 20; B = on ? 240 : 30;
      }
      // Orange disc with a radial shade.
      const dx = x - cx;
      const dy = y - cy;
      const d2 = dx * dx + dy * dy;
      if (d2 <= r * r) {
        const shade = Math.floor((d2 * 120) / (r * r));
        R = 255 - (shade >> 2); G = 150 - (shade >> 1); B = 20 + (shade >> 3);
      }
      // Blue rectangle with a dark 3-pixel frame.
      if (x >= rect[0] && x < rect[2] && y >= rect[1] && y < rect[3]) {
        const frame = x < rect[0] + 3 || x >= rect[2] - 3 || y < rect[1] + 3 || y >= rect[3] - 3;
        if (frame) {
          R = 10; G = 10; B = 40;
        } else {
          R = 30 + ((x - rect[0]) & 31); G = 90 + ((y - rect[1]) & 63); B = 220;
        }
      }
      const o = (y * width + x) * 4;
      px[o] = R;
      px[o + 1] = G;
      px[o + 2] = B;
      px[o + 3] = 255;
    }
  }
  return px;
}

// NCHW float32 [1, 3, height, width]: (pixel / 255 - mean) / std per channel.
export function toTensorData(rgba, width = SIZE, height = SIZE) {
  const plane = width * height;
  const out = new Float32Array(3 * plane);
  for (let c = 0; c < 3; ++c) {
    for (let i = 0; i < plane; ++i) out[c * plane + i] = (rgba[i * 4 + c] / 255 - MEAN[c]) / STD[c];
  }
  return out;
}

// { rgba, data, dims } for the default 224x224 picture.
export function syntheticInput(size = SIZE) {
  const rgba = drawSynthetic(size, size);
  return { rgba, data: toTensorData(rgba, size, size), dims: [1, 3, size, size] };
}

// Indices and scores of the k largest values, largest first (ties: lower index first).
export function topK(values, k = 5) {
  const idx = Array.from(values, (_, i) => i);
  idx.sort((a, b) => values[b] - values[a] || a - b);
  return idx.slice(0, k).map((i) => ({ index: i, score: Number(values[i]) }));
}
