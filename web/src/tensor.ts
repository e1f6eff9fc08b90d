// Tensor: typed data + dims, in onnxruntime-web's shape so code moves between the two.

export type TensorType =
  | 'float32' | 'float64' | 'float16' | 'int8' | 'uint8' | 'int16' | 'uint16'
  | 'int32' | 'uint32' | 'int64' | 'uint64' | 'bool';

export type TensorData =
  | Float32Array | Float64Array | Int8Array | Uint8Array | Int16Array | Uint16Array
  | Int32Array | Uint32Array | BigInt64Array | BigUint64Array;

type TypedArrayCtor = { new (length: number): TensorData; new (buffer: ArrayBufferLike, offset: number, length: number): TensorData; BYTES_PER_ELEMENT: number };

// ONNX TensorProto element type numbers (the C API's dtype) and the array that holds each type.
// float16 and bool hold raw bits/bytes, as in onnxruntime-web.
export const TENSOR_TYPES: ReadonlyArray<[TensorType, number, TypedArrayCtor]> = [
  ['float32', 1, Float32Array as unknown as TypedArrayCtor],
  ['uint8', 2, Uint8Array as unknown as TypedArrayCtor],
  ['int8', 3, Int8Array as unknown as TypedArrayCtor],
  ['uint16', 4, Uint16Array as unknown as TypedArrayCtor],
  ['int16', 5, Int16Array as unknown as TypedArrayCtor],
  ['int32', 6, Int32Array as unknown as TypedArrayCtor],
  ['int64', 7, BigInt64Array as unknown as TypedArrayCtor],
  ['bool', 9, Uint8Array as unknown as TypedArrayCtor],
  ['float16', 10, Uint16Array as unknown as TypedArrayCtor],
  ['float64', 11, Float64Array as unknown as TypedArrayCtor],
  ['uint32', 12, Uint32Array as unknown as TypedArrayCtor],
  ['uint64', 13, BigUint64Array as unknown as TypedArrayCtor],
];

const BY_NAME = new Map(TENSOR_TYPES.map(([name, code, ctor]) => [name, { code, ctor }]));
const BY_CODE = new Map(TENSOR_TYPES.map(([name, code, ctor]) => [code, { name, ctor }]));

// ONNX types the API cannot carry (names for error messages).
const OTHER_ONNX_TYPES: Record<number, string> = { 8: 'string', 14: 'complex64', 15: 'complex128', 16: 'bfloat16' };

export function typeCode(type: TensorType): number {
  const e = BY_NAME.get(type);
  if (!e) throw new TypeError(`unknown tensor type '${type}'; use one of ${[...BY_NAME.keys()].join(', ')}`);
  return e.code;
}

export function typeName(code: number): TensorType | string {
  return BY_CODE.get(code)?.name ?? OTHER_ONNX_TYPES[code] ?? (code === 0 ? 'unknown' : `onnx type ${code}`);
}

export function arrayFor(code: number): TypedArrayCtor {
  const e = BY_CODE.get(code);
  if (!e) throw new TypeError(`tensors of type '${typeName(code)}' are not supported by the web API`);
  return e.ctor;
}

export class Tensor {
  readonly type: TensorType;
  readonly data: TensorData;
  readonly dims: readonly number[];
  readonly size: number;

  constructor(type: TensorType, data: TensorData | readonly number[] | readonly bigint[] | readonly boolean[],
              dims?: readonly number[]) {
    const entry = BY_NAME.get(type);
    if (!entry) throw new TypeError(`unknown tensor type '${type}'; use one of ${[...BY_NAME.keys()].join(', ')}`);
    let array: TensorData;
    if (Array.isArray(data)) {
      array = new entry.ctor(data.length);
      const big = type === 'int64' || type === 'uint64';
      data.forEach((v, i) => {
        (array as unknown as Array<number | bigint>)[i] = big ? BigInt(v as number | bigint) : Number(v);
      });
    } else if (ArrayBuffer.isView(data)) {
      if (!(data instanceof entry.ctor)) {
        throw new TypeError(`a '${type}' tensor needs a ${entry.ctor.name}, got ${data.constructor.name}`);
      }
      array = data as TensorData;
    } else {
      throw new TypeError('tensor data must be a typed array or an array');
    }
    const shape = dims ?? [array.length];
    let size = 1;
    for (const d of shape) {
      if (!Number.isSafeInteger(d) || d < 0) throw new RangeError(`tensor dims must be non-negative integers, got [${shape.join(', ')}]`);
      size *= d;
    }
    if (size !== array.length) {
      throw new RangeError(`tensor data has ${array.length} elements but dims [${shape.join(', ')}] need ${size}`);
    }
    this.type = type;
    this.data = array;
    this.dims = Object.freeze([...shape]);
    this.size = size;
  }
}
