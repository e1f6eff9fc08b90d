// Minimal NumPy .npy reader/writer (format versions 1-3, little-endian, C order). Lives in the
// package (the CLI uses it); tests/models/npy.mjs re-exports it for the test and bench scripts.
//
// An array is { dtype, shape, data }: dtype is an onnxruntime tensor type name ('float32',
// 'int64', 'bool', ...), shape an array of numbers, data the matching typed array (BigInt64Array
// for int64, Uint8Array for bool, Uint16Array holding raw bits for float16).
import { readFileSync, writeFileSync } from 'node:fs';

// numpy descr (without byte-order char) <-> ORT type name and typed array constructor.
const TYPES = [
  ['f4', 'float32', Float32Array],
  ['f8', 'float64', Float64Array],
  ['f2', 'float16', Uint16Array],
  ['i1', 'int8', Int8Array],
  ['u1', 'uint8', Uint8Array],
  ['i2', 'int16', Int16Array],
  ['u2', 'uint16', Uint16Array],
  ['i4', 'int32', Int32Array],
  ['u4', 'uint32', Uint32Array],
  ['i8', 'int64', BigInt64Array],
  ['u8', 'uint64', BigUint64Array],
  ['b1', 'bool', Uint8Array],
];
const BY_DESCR = new Map(TYPES.map(([d, t, c]) => [d, { dtype: t, ctor: c }]));
const BY_DTYPE = new Map(TYPES.map(([d, t, c]) => [t, { descr: d, ctor: c }]));

export function typedArrayFor(dtype) {
  const e = BY_DTYPE.get(dtype);
  if (!e) throw new Error(`npy: unsupported dtype '${dtype}'`);
  return e.ctor;
}

export const numel = (shape) => shape.reduce((a, b) => a * b, 1);

// Parses a .npy buffer. Throws an Error naming `what` on malformed input.
export function parseNpy(buf, what = '.npy data') {
  const bad = (why) => new Error(`${what}: not a valid .npy file (${why})`);
  if (buf.length < 10 || buf[0] !== 0x93 || buf.toString('latin1', 1, 6) !== 'NUMPY') throw bad('no magic');
  const major = buf[6];
  let headerLen, offset;
  if (major === 1) {
    headerLen = buf.readUInt16LE(8);
    offset = 10;
  } else if (major === 2 || major === 3) {
    if (buf.length < 12) throw bad('truncated');
    headerLen = buf.readUInt32LE(8);
    offset = 12;
  } else {
    throw bad(`format version ${major}`);
  }
  if (offset + headerLen > buf.length) throw bad('truncated header');
  const header = buf.toString(major === 3 ? 'utf8' : 'latin1', offset, offset + headerLen);
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) throw bad(`header ${header.trim()}`);
  if (fortran === 'True') throw bad('Fortran order is not supported');
  if (descr[0] === '>') throw bad(`big-endian dtype ${descr}`);
  const type = BY_DESCR.get(/^[<|=]/.test(descr) ? descr.slice(1) : descr);
  if (!type) throw bad(`unsupported dtype ${descr}`);
  const shape = shapeText.split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number);
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) throw bad(`shape (${shapeText})`);
  const n = numel(shape);
  const dataOffset = offset + headerLen;
  const bytes = n * type.ctor.BYTES_PER_ELEMENT;
  if (buf.length - dataOffset !== bytes) {
    throw bad(`data has ${buf.length - dataOffset} bytes, shape [${shape}] of ${type.dtype} needs ${bytes}`);
  }
  // Copy into a fresh, aligned buffer (the file's data offset need not be aligned).
  const data = new type.ctor(n);
  new Uint8Array(data.buffer).set(buf.subarray(dataOffset, dataOffset + bytes));
  return { dtype: type.dtype, shape, data };
}

export function readNpy(path) {
  return parseNpy(readFileSync(path), path);
}

export function encodeNpy({ dtype, shape, data }) {
  const e = BY_DTYPE.get(dtype);
  if (!e) throw new Error(`npy: cannot write dtype '${dtype}'`);
  if (!(data instanceof e.ctor)) throw new Error(`npy: ${dtype} data must be a ${e.ctor.name}`);
  if (data.length !== numel(shape)) throw new Error(`npy: ${data.length} elements for shape [${shape}]`);
  const order = e.ctor.BYTES_PER_ELEMENT === 1 ? '|' : '<';
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${order}${e.descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  header += ' '.repeat((64 - ((10 + header.length + 1) % 64)) % 64) + '\n';
  const pre = Buffer.alloc(10);
  pre.write('\x93NUMPY', 0, 'latin1');
  pre[6] = 1;
  pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  const body = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.concat([pre, Buffer.from(header, 'latin1'), body]);
}

export function writeNpy(path, array) {
  writeFileSync(path, encodeNpy(array));
}

// IEEE half (float16 .npy data arrives as Uint16) to a JavaScript number.
export function halfToFloat(h) {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}
