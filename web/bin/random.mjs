// Seeded random inputs identical to the native CLI's (native/cli/common.cc): std::mt19937
// seeded with --seed, floats from std::uniform_real_distribution<float>(-1, 1) and integers
// from std::uniform_int_distribution<int>(0, 9), as libstdc++ (GCC 11+) computes them.

// std::mt19937 (32-bit Mersenne Twister).
export class MT19937 {
  constructor(seed) {
    this.mt = new Uint32Array(624);
    this.mt[0] = seed >>> 0;
    for (let i = 1; i < 624; ++i) {
      const p = this.mt[i - 1] ^ (this.mt[i - 1] >>> 30);
      // 1812433253 * p + i, modulo 2^32
      this.mt[i] = (Math.imul(1812433253, p) + i) >>> 0;
    }
    this.i = 624;
  }

  next() {
    const mt = this.mt;
    if (this.i >= 624) {
      for (let k = 0; k < 624; ++k) {
        const y = (mt[k] & 0x80000000) | (mt[(k + 1) % 624] & 0x7fffffff);
        mt[k] = mt[(k + 397) % 624] ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
      }
      this.i = 0;
    }
    let y = mt[this.i++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  // std::uniform_real_distribution<float>(-1, 1): generate_canonical<float, 24> in float
  // arithmetic, then u * (b - a) + a rounded to float.
  uniformFloat() {
    let u = Math.fround(this.next()) / 4294967296;
    if (u >= 1) u = 1 - 2 ** -24; // nextafter(1.0f, 0.0f)
    return Math.fround(u * 2 - 1);
  }

  // std::uniform_int_distribution<int>(0, 9): Lemire's nearly divisionless method (_S_nd).
  int0to9() {
    const range = 10n;
    let product = BigInt(this.next()) * range;
    let low = product & 0xffffffffn;
    if (low < range) {
      const threshold = (2n ** 32n - range) % range;
      while (low < threshold) {
        product = BigInt(this.next()) * range;
        low = product & 0xffffffffn;
      }
    }
    return Number(product >> 32n);
  }
}

// IEEE half from a float32 value, round to nearest even (core/runtime/dtype.cc float_to_half).
export function floatToHalf(f) {
  const view = new DataView(new ArrayBuffer(4));
  view.setFloat32(0, f, true);
  const x = view.getUint32(0, true);
  const sign = (x >>> 16) & 0x8000;
  const abs = x & 0x7fffffff;
  if (abs >= 0x7f800000) return sign | 0x7c00 | (abs > 0x7f800000 ? 0x200 : 0);
  if (abs >= 0x477ff000) return sign | 0x7c00;
  if (abs < 0x38800000) {
    if (abs < 0x33000000) return sign;
    const e = abs >>> 23;
    const m = (abs & 0x7fffff) | 0x800000;
    const shift = 126 - e;
    let halfM = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && (halfM & 1))) ++halfM;
    return sign | halfM;
  }
  const e = (abs >>> 23) - 127 + 15;
  const m = abs & 0x7fffff;
  let half = (e << 10) | (m >>> 13);
  const rem = m & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1))) ++half;
  return sign | half;
}

const CTORS = {
  float32: Float32Array, float64: Float64Array, float16: Uint16Array, int64: BigInt64Array,
  int32: Int32Array, int8: Int8Array, uint8: Uint8Array, bool: Uint8Array,
};

// A random tensor's data for `dtype` and element count `n`, drawn from `rng` in the native
// CLI's order. Throws for dtypes the native CLI cannot randomize either.
export function randomData(dtype, n, rng) {
  const Ctor = CTORS[dtype];
  if (!Ctor) throw new Error(`cannot make random inputs of dtype ${dtype}`);
  const data = new Ctor(n);
  for (let i = 0; i < n; ++i) {
    switch (dtype) {
      case 'float32': case 'float64': data[i] = rng.uniformFloat(); break;
      case 'float16': data[i] = floatToHalf(rng.uniformFloat()); break;
      case 'int64': data[i] = BigInt(rng.int0to9()); break;
      case 'bool': data[i] = rng.int0to9() % 2 !== 0 ? 1 : 0; break;
      default: data[i] = rng.int0to9();
    }
  }
  return data;
}
