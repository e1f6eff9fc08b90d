// Elementwise comparison of a candidate array against a reference array ({dtype, shape, data},
// see npy.mjs).
//
// Floating point: element i passes when |a - b| <= atol + rtol * |b| (a = candidate, b =
// reference); NaN must meet NaN and an infinity the same infinity. Integers and bool: exact.
// The "worst" element is the one with the largest |a - b| / (atol + rtol * |b|); a comparison
// passes when that ratio is <= 1. max_rel is max |a - b| / |b| over elements with b != 0.

import { halfToFloat } from './npy.mjs';

export { halfToFloat };

export const DEFAULT_RTOL = 1e-4;
export const DEFAULT_ATOL = 1e-5;

const FLOAT_TYPES = new Set(['float32', 'float64', 'float16']);

function valueAt(arr, i) {
  const v = arr.data[i];
  if (arr.dtype === 'float16') return halfToFloat(v);
  return typeof v === 'bigint' ? v : Number(v);
}

export function unravel(shape, flat) {
  const idx = new Array(shape.length).fill(0);
  for (let d = shape.length - 1; d >= 0; --d) {
    idx[d] = flat % shape[d];
    flat = Math.floor(flat / shape[d]);
  }
  return `[${idx.join(',')}]`;
}

export const formatValue = (v) => (typeof v === 'bigint' ? `${v}` : Number.isInteger(v) && Math.abs(v) < 1e15 ? `${v}` : v.toPrecision(9));
export const describe = (arr) => `${arr.dtype}[${arr.shape.join(',')}]`;

// Returns { ok, message, maxAbs, maxRel, worst: {index, actual, expected, ratio} | null, mismatches }.
export function compareArrays(actual, expected, { rtol = DEFAULT_RTOL, atol = DEFAULT_ATOL, name = '' } = {}) {
  const res = { ok: false, message: '', maxAbs: 0, maxRel: 0, worst: null, mismatches: 0 };
  if (actual.dtype !== expected.dtype) {
    res.message = `dtype ${actual.dtype}, expected ${expected.dtype}`;
    return res;
  }
  if (actual.shape.length !== expected.shape.length || actual.shape.some((d, i) => d !== expected.shape[i])) {
    res.message = `shape [${actual.shape}], expected [${expected.shape}]`;
    return res;
  }
  const n = expected.data.length;
  const isFloat = FLOAT_TYPES.has(expected.dtype);
  let worstRatio = -1;
  let worstIndex = -1;
  for (let i = 0; i < n; ++i) {
    const a = valueAt(actual, i);
    const b = valueAt(expected, i);
    let ratio;
    if (!isFloat) {
      if (a === b) continue;
      ratio = Infinity;
      const d = typeof a === 'bigint' ? Number(a > b ? a - b : b - a) : Math.abs(a - b);
      res.maxAbs = Math.max(res.maxAbs, d);
    } else if (Number.isNaN(a) || Number.isNaN(b)) {
      if (Number.isNaN(a) && Number.isNaN(b)) continue;
      ratio = Infinity;
      res.maxAbs = NaN;
    } else if (!Number.isFinite(b) || !Number.isFinite(a)) {
      if (a === b) continue;
      ratio = Infinity;
      res.maxAbs = Infinity;
    } else {
      const d = Math.abs(a - b);
      if (d > res.maxAbs) res.maxAbs = d;
      if (b !== 0 && d / Math.abs(b) > res.maxRel) res.maxRel = d / Math.abs(b);
      ratio = d / (atol + rtol * Math.abs(b));
    }
    if (ratio > 1) ++res.mismatches;
    if (ratio > worstRatio) {
      worstRatio = ratio;
      worstIndex = i;
    }
  }
  if (worstIndex >= 0) {
    res.worst = {
      index: unravel(expected.shape, worstIndex),
      actual: valueAt(actual, worstIndex),
      expected: valueAt(expected, worstIndex),
      ratio: worstRatio,
    };
  }
  res.ok = res.mismatches === 0;
  const w = res.worst ? ` worst ${name}${res.worst.index}: got ${formatValue(res.worst.actual)}, expected ${formatValue(res.worst.expected)}` : '';
  res.message = res.ok
    ? `max abs ${res.maxAbs.toExponential(2)}, max rel ${res.maxRel.toExponential(2)}${w}`
    : `${res.mismatches}/${n} elements outside |a-b| <= ${atol} + ${rtol}*|b|;${w}` +
      (isFloat ? ` (abs ${Math.abs(Number(res.worst.actual) - Number(res.worst.expected)).toExponential(2)})` : '');
  return res;
}
