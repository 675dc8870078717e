/**
 * The dense ops (embedding, RMSNorm, linear, SwiGLU), cross-entropy, AdamW
 * and the vector helpers against float64 references written here. Every
 * comparison uses relativeError (max abs difference over max abs reference),
 * which returns Infinity on NaN, with tolerance 1e-4 for float32 kernels.
 * Each reference's gradient is checked once by central finite differences.
 */
import { describe, expect, it } from 'vitest';
import {
  addInPlace,
  adamwStep,
  crossEntropy,
  embeddingBackward,
  embeddingForward,
  linearBackward,
  linearForward,
  rmsnormBackward,
  rmsnormForward,
  scaleInPlace,
  sumSquares,
  swigluBackward,
  swigluForward,
} from '../../src/native/ops.js';
import { setNumThreads } from '../../src/native/core.js';
import { addon } from '../../src/native/addon.js';
import { SnaxError } from '../../src/errors.js';
import { expectClose, makeRandom, randomArray, relativeError } from '../helpers/numeric.js';

const TOLERANCE = 1e-4;
const FD_TOLERANCE = 1e-6;

// ------------------------------------------------------------ helpers

function randomTokens(random: () => number, n: number, V: number): Int32Array {
  const tokens = new Int32Array(n);
  for (let i = 0; i < n; i++) tokens[i] = Math.floor(random() * V);
  return tokens;
}

function sumProduct(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i] * b[i];
  return sum;
}

function plus(a: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  return Float64Array.from(a, (value, i) => value + b[i]);
}

/** Central finite differences of loss at every element of x (float64, step h). */
function numericGradient(loss: (x: Float64Array) => number, x: Float64Array, h = 1e-5): Float64Array {
  const grad = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const saved = x[i];
    x[i] = saved + h;
    const up = loss(x);
    x[i] = saved - h;
    const down = loss(x);
    x[i] = saved;
    grad[i] = (up - down) / (2 * h);
  }
  return grad;
}

/** Runs compute once per thread count (1, 2, 3) and returns the results. */
function withThreads<R>(compute: () => R): R[] {
  const results: R[] = [];
  try {
    for (const threads of [1, 2, 3]) {
      setNumThreads(threads);
      results.push(compute());
    }
  } finally {
    setNumThreads(0);
  }
  return results;
}

function sameBits(a: Float32Array, b: Float32Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

// ----------------------------------------------------- float64 references

function refEmbeddingForward(tokens: Int32Array, wte: ArrayLike<number>, T: number, D: number): Float64Array {
  const out = new Float64Array(T * D);
  for (let t = 0; t < T; t++) for (let d = 0; d < D; d++) out[t * D + d] = wte[tokens[t] * D + d];
  return out;
}

function refEmbeddingBackward(dout: ArrayLike<number>, tokens: Int32Array, T: number, D: number, V: number): Float64Array {
  const dwte = new Float64Array(V * D);
  for (let t = 0; t < T; t++) for (let d = 0; d < D; d++) dwte[tokens[t] * D + d] += dout[t * D + d];
  return dwte;
}

function refRmsnormForward(x: ArrayLike<number>, weight: ArrayLike<number>, T: number, D: number, eps: number) {
  const out = new Float64Array(T * D);
  const rstd = new Float64Array(T);
  for (let t = 0; t < T; t++) {
    let sumSq = 0;
    for (let d = 0; d < D; d++) sumSq += x[t * D + d] ** 2;
    rstd[t] = 1 / Math.sqrt(sumSq / D + eps);
    for (let d = 0; d < D; d++) out[t * D + d] = x[t * D + d] * rstd[t] * weight[d];
  }
  return { out, rstd };
}

function refRmsnormBackward(dout: ArrayLike<number>, x: ArrayLike<number>, weight: ArrayLike<number>, T: number, D: number, eps: number) {
  const { rstd } = refRmsnormForward(x, weight, T, D, eps);
  const dx = new Float64Array(T * D);
  const dweight = new Float64Array(D);
  for (let t = 0; t < T; t++) {
    const r = rstd[t];
    let dot = 0;
    for (let d = 0; d < D; d++) dot += dout[t * D + d] * weight[d] * x[t * D + d];
    for (let d = 0; d < D; d++) {
      dx[t * D + d] = r * dout[t * D + d] * weight[d] - ((r * r * r) / D) * dot * x[t * D + d];
      dweight[d] += dout[t * D + d] * x[t * D + d] * r;
    }
  }
  return { dx, dweight };
}

function refLinearForward(x: ArrayLike<number>, w: ArrayLike<number>, T: number, I: number, O: number): Float64Array {
  const out = new Float64Array(T * O);
  for (let t = 0; t < T; t++)
    for (let o = 0; o < O; o++) {
      let sum = 0;
      for (let i = 0; i < I; i++) sum += x[t * I + i] * w[o * I + i];
      out[t * O + o] = sum;
    }
  return out;
}

function refLinearBackward(dout: ArrayLike<number>, x: ArrayLike<number>, w: ArrayLike<number>, T: number, I: number, O: number) {
  const dx = new Float64Array(T * I);
  const dw = new Float64Array(O * I);
  for (let t = 0; t < T; t++)
    for (let o = 0; o < O; o++) {
      const g = dout[t * O + o];
      for (let i = 0; i < I; i++) {
        dx[t * I + i] += g * w[o * I + i];
        dw[o * I + i] += g * x[t * I + i];
      }
    }
  return { dx, dw };
}

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

function refSwigluForward(h: ArrayLike<number>, T: number, N: number): Float64Array {
  const out = new Float64Array(T * N);
  for (let t = 0; t < T; t++)
    for (let j = 0; j < N; j++) {
      const gate = h[t * 2 * N + 2 * j];
      const up = h[t * 2 * N + 2 * j + 1];
      out[t * N + j] = gate * sigmoid(gate) * up;
    }
  return out;
}

function refSwigluBackward(dout: ArrayLike<number>, h: ArrayLike<number>, T: number, N: number): Float64Array {
  const dh = new Float64Array(T * 2 * N);
  for (let t = 0; t < T; t++)
    for (let j = 0; j < N; j++) {
      const gate = h[t * 2 * N + 2 * j];
      const up = h[t * 2 * N + 2 * j + 1];
      const s = sigmoid(gate);
      dh[t * 2 * N + 2 * j] = dout[t * N + j] * up * s * (1 + gate * (1 - s));
      dh[t * 2 * N + 2 * j + 1] = dout[t * N + j] * gate * s;
    }
  return dh;
}

function refCrossEntropy(logits: ArrayLike<number>, targets: Int32Array, T: number, V: number, gradScale: number) {
  const losses = new Float64Array(T);
  const dlogits = new Float64Array(T * V);
  for (let t = 0; t < T; t++) {
    let max = -Infinity;
    for (let v = 0; v < V; v++) max = Math.max(max, logits[t * V + v]);
    let sum = 0;
    for (let v = 0; v < V; v++) sum += Math.exp(logits[t * V + v] - max);
    losses[t] = max + Math.log(sum) - logits[t * V + targets[t]];
    for (let v = 0; v < V; v++) dlogits[t * V + v] = (Math.exp(logits[t * V + v] - max) / sum) * gradScale;
    dlogits[t * V + targets[t]] -= gradScale;
  }
  return { losses, dlogits };
}

interface AdamwConfig {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

function refAdamwStep(param: Float64Array, grad: ArrayLike<number>, m: Float64Array, v: Float64Array, c: AdamwConfig, step: number): void {
  for (let i = 0; i < param.length; i++) {
    m[i] = c.beta1 * m[i] + (1 - c.beta1) * grad[i];
    v[i] = c.beta2 * v[i] + (1 - c.beta2) * grad[i] ** 2;
    const mhat = m[i] / (1 - c.beta1 ** step);
    const vhat = v[i] / (1 - c.beta2 ** step);
    param[i] -= c.lr * (mhat / (Math.sqrt(vhat) + c.eps) + c.weightDecay * param[i]);
  }
}

// --------------------------------------------------- reference gradients

describe('reference gradients', () => {
  const random = makeRandom(11);

  it('embedding matches finite differences', () => {
    const [T, D, V] = [5, 3, 4];
    const tokens = randomTokens(random, T, V);
    const wte = Float64Array.from(randomArray(random, V * D));
    const dout = Float64Array.from(randomArray(random, T * D));
    const numeric = numericGradient((w) => sumProduct(refEmbeddingForward(tokens, w, T, D), dout), wte);
    expect(relativeError(refEmbeddingBackward(dout, tokens, T, D, V), numeric)).toBeLessThanOrEqual(FD_TOLERANCE);
  });

  it('rmsnorm matches finite differences', () => {
    const [T, D, eps] = [3, 7, 1e-5];
    const x = Float64Array.from(randomArray(random, T * D));
    const weight = Float64Array.from(randomArray(random, D));
    const dout = Float64Array.from(randomArray(random, T * D));
    const { dx, dweight } = refRmsnormBackward(dout, x, weight, T, D, eps);
    const numericX = numericGradient((xs) => sumProduct(refRmsnormForward(xs, weight, T, D, eps).out, dout), x);
    const numericW = numericGradient((ws) => sumProduct(refRmsnormForward(x, ws, T, D, eps).out, dout), weight);
    expect(relativeError(dx, numericX)).toBeLessThanOrEqual(FD_TOLERANCE);
    expect(relativeError(dweight, numericW)).toBeLessThanOrEqual(FD_TOLERANCE);
  });

  it('linear matches finite differences', () => {
    const [T, I, O] = [3, 4, 5];
    const x = Float64Array.from(randomArray(random, T * I));
    const w = Float64Array.from(randomArray(random, O * I));
    const dout = Float64Array.from(randomArray(random, T * O));
    const { dx, dw } = refLinearBackward(dout, x, w, T, I, O);
    const numericX = numericGradient((xs) => sumProduct(refLinearForward(xs, w, T, I, O), dout), x);
    const numericW = numericGradient((ws) => sumProduct(refLinearForward(x, ws, T, I, O), dout), w);
    expect(relativeError(dx, numericX)).toBeLessThanOrEqual(FD_TOLERANCE);
    expect(relativeError(dw, numericW)).toBeLessThanOrEqual(FD_TOLERANCE);
  });

  it('swiglu matches finite differences', () => {
    const [T, N] = [3, 5];
    const h = Float64Array.from(randomArray(random, T * 2 * N, 3));
    const dout = Float64Array.from(randomArray(random, T * N));
    const numeric = numericGradient((hs) => sumProduct(refSwigluForward(hs, T, N), dout), h);
    expect(relativeError(refSwigluBackward(dout, h, T, N), numeric)).toBeLessThanOrEqual(FD_TOLERANCE);
  });

  it('cross-entropy matches finite differences', () => {
    const [T, V, gradScale] = [3, 6, 0.5];
    const logits = Float64Array.from(randomArray(random, T * V, 3));
    const targets = randomTokens(random, T, V);
    const loss = (l: Float64Array): number => refCrossEntropy(l, targets, T, V, 1).losses.reduce((a, b) => a + b, 0) * gradScale;
    const numeric = numericGradient(loss, logits);
    expect(relativeError(refCrossEntropy(logits, targets, T, V, gradScale).dlogits, numeric)).toBeLessThanOrEqual(FD_TOLERANCE);
  });
});

// ------------------------------------------------------------- embedding

describe('embedding', () => {
  for (const [T, D, V] of [
    [7, 100, 13],
    [1, 3, 1],
    [400, 100, 50],
  ]) {
    it(`forward and backward at T=${T} D=${D} V=${V}`, () => {
      const random = makeRandom(T * 31 + D);
      const tokens = randomTokens(random, T, V);
      const wte = randomArray(random, V * D);
      const out = new Float32Array(T * D);
      embeddingForward(out, tokens, wte, T, D, V);
      expectClose('out', out, refEmbeddingForward(tokens, wte, T, D), TOLERANCE);

      const dout = randomArray(random, T * D);
      const dwte = randomArray(random, V * D);
      const expected = plus(dwte, refEmbeddingBackward(dout, tokens, T, D, V));
      embeddingBackward(dwte, dout, tokens, T, D, V);
      expectClose('dwte', dwte, expected, TOLERANCE);
    });
  }

  it('backward is bitwise identical for 1, 2 and 3 threads', () => {
    const [T, D, V] = [600, 100, 37];
    const random = makeRandom(3);
    const tokens = randomTokens(random, T, V);
    const dout = randomArray(random, T * D);
    const start = randomArray(random, V * D);
    const results = withThreads(() => {
      const dwte = start.slice();
      embeddingBackward(dwte, dout, tokens, T, D, V);
      return dwte;
    });
    expect(sameBits(results[1], results[0])).toBe(true);
    expect(sameBits(results[2], results[0])).toBe(true);
  });

  it('rejects a token id outside the vocabulary', () => {
    const call = () => embeddingForward(new Float32Array(6), Int32Array.from([0, 1, 9]), new Float32Array(8), 3, 2, 4);
    expect(call).toThrow(SnaxError);
    expect(call).toThrow(/token id 9 at position 2 is outside the vocabulary \[0, 4\)/);
  });

  it('rejects a negative token id in backward', () => {
    const call = () => embeddingBackward(new Float32Array(8), new Float32Array(4), Int32Array.from([-1, 0]), 2, 2, 4);
    expect(call).toThrow(/token id -1 at position 0/);
  });

  it('rejects float tokens with INVALID_DTYPE', () => {
    const tokens = new Float32Array(3) as unknown as Int32Array;
    const call = () => embeddingForward(new Float32Array(6), tokens, new Float32Array(8), 3, 2, 4);
    expect(call).toThrow(/tokens must be an Int32Array, got Float32Array/);
  });

  it('rejects a wrong table length', () => {
    const call = () => embeddingForward(new Float32Array(6), new Int32Array(3), new Float32Array(7), 3, 2, 4);
    expect(call).toThrow(/wte has 7 elements, expected 8/);
  });
});

// --------------------------------------------------------------- rmsnorm

describe('rmsnorm', () => {
  for (const [T, D] of [
    [7, 100],
    [1, 1],
    [300, 130],
  ]) {
    it(`forward and backward at T=${T} D=${D}`, () => {
      const eps = 1e-5;
      const random = makeRandom(T * 7 + D);
      const x = randomArray(random, T * D, 2);
      const weight = randomArray(random, D);
      const out = new Float32Array(T * D);
      const rstd = new Float32Array(T);
      rmsnormForward(out, rstd, x, weight, T, D, eps);
      const reference = refRmsnormForward(x, weight, T, D, eps);
      expectClose('out', out, reference.out, TOLERANCE);
      expectClose('rstd', rstd, reference.rstd, TOLERANCE);

      const dout = randomArray(random, T * D);
      const dx = randomArray(random, T * D);
      const dweight = randomArray(random, D);
      const grads = refRmsnormBackward(dout, x, weight, T, D, eps);
      const expectedDx = plus(dx, grads.dx);
      const expectedDweight = plus(dweight, grads.dweight);
      rmsnormBackward(dx, dweight, dout, x, rstd, weight, T, D);
      expectClose('dx', dx, expectedDx, TOLERANCE);
      expectClose('dweight', dweight, expectedDweight, TOLERANCE);
    });
  }

  it('rejects a negative eps', () => {
    const call = () => rmsnormForward(new Float32Array(4), new Float32Array(2), new Float32Array(4), new Float32Array(2), 2, 2, -1);
    expect(call).toThrow(/eps must be a finite number >= 0, got -1/);
  });

  it('rejects a wrong rstd length', () => {
    const call = () => rmsnormForward(new Float32Array(4), new Float32Array(3), new Float32Array(4), new Float32Array(2), 2, 2, 1e-5);
    expect(call).toThrow(/rstd has 3 elements, expected 2/);
  });
});

// ---------------------------------------------------------------- linear

describe('linear', () => {
  for (const [T, I, O] of [
    [7, 100, 13],
    [1, 1, 1],
    [130, 100, 70],
  ]) {
    it(`forward and backward at T=${T} I=${I} O=${O}`, () => {
      const random = makeRandom(T * 3 + I * 5 + O);
      const x = randomArray(random, T * I);
      const w = randomArray(random, O * I);
      const out = new Float32Array(T * O);
      linearForward(out, x, w, T, I, O);
      expectClose('out', out, refLinearForward(x, w, T, I, O), TOLERANCE);

      const dout = randomArray(random, T * O);
      const dx = randomArray(random, T * I);
      const dw = randomArray(random, O * I);
      const grads = refLinearBackward(dout, x, w, T, I, O);
      const expectedDw = plus(dw, grads.dw);
      linearBackward(dx, dw, dout, x, w, T, I, O);
      expectClose('dx', dx, grads.dx, TOLERANCE);
      expectClose('dw', dw, expectedDw, TOLERANCE);
    });
  }

  it('backward skips dx when it is null', () => {
    const [T, I, O] = [5, 6, 4];
    const random = makeRandom(8);
    const x = randomArray(random, T * I);
    const w = randomArray(random, O * I);
    const dout = randomArray(random, T * O);
    const dw = new Float32Array(O * I);
    linearBackward(null, dw, dout, x, w, T, I, O);
    expectClose('dw', dw, refLinearBackward(dout, x, w, T, I, O).dw, TOLERANCE);
  });

  it('backward is bitwise identical for 1, 2 and 3 threads', () => {
    const [T, I, O] = [150, 100, 130];
    const random = makeRandom(4);
    const x = randomArray(random, T * I);
    const w = randomArray(random, O * I);
    const dout = randomArray(random, T * O);
    const results = withThreads(() => {
      const dx = new Float32Array(T * I);
      const dw = new Float32Array(O * I);
      linearBackward(dx, dw, dout, x, w, T, I, O);
      return { dx, dw };
    });
    expect(sameBits(results[1].dx, results[0].dx)).toBe(true);
    expect(sameBits(results[2].dx, results[0].dx)).toBe(true);
    expect(sameBits(results[1].dw, results[0].dw)).toBe(true);
    expect(sameBits(results[2].dw, results[0].dw)).toBe(true);
  });

  it('rejects a wrong weight length', () => {
    const call = () => linearForward(new Float32Array(6), new Float32Array(4), new Float32Array(5), 2, 2, 3);
    expect(call).toThrow(/w has 5 elements, expected 6/);
  });

  it('rejects a wrong dtype', () => {
    const x = new Float64Array(4) as unknown as Float32Array;
    const call = () => linearForward(new Float32Array(6), x, new Float32Array(6), 2, 2, 3);
    expect(call).toThrow(/x must be a Float32Array, got Float64Array/);
  });

  it('native layer rejects a wrong length too', () => {
    let error: unknown;
    try {
      addon().linearForward(new Float32Array(6), new Float32Array(4), new Float32Array(5), 2, 2, 3);
    } catch (caught) {
      error = caught;
    }
    expect((error as { code?: string }).code).toBe('SHAPE_MISMATCH');
  });
});

// ---------------------------------------------------------------- swiglu

describe('swiglu', () => {
  for (const [T, N] of [
    [7, 100],
    [1, 1],
    [200, 130],
  ]) {
    it(`forward and backward at T=${T} N=${N}`, () => {
      const random = makeRandom(T * 13 + N);
      const h = randomArray(random, T * 2 * N, 4);
      const out = new Float32Array(T * N);
      swigluForward(out, h, T, N);
      expectClose('out', out, refSwigluForward(h, T, N), TOLERANCE);

      const dout = randomArray(random, T * N);
      const dh = new Float32Array(T * 2 * N).fill(Number.NaN);
      swigluBackward(dh, dout, h, T, N);
      expectClose('dh', dh, refSwigluBackward(dout, h, T, N), TOLERANCE);
    });
  }

  it('rejects a wrong h length', () => {
    const call = () => swigluForward(new Float32Array(3), new Float32Array(5), 1, 3);
    expect(call).toThrow(/h has 5 elements, expected 6/);
  });
});

// --------------------------------------------------------- cross entropy

describe('crossEntropy', () => {
  for (const [T, V] of [
    [7, 100],
    [1, 1],
    [64, 1000],
  ]) {
    it(`losses and dlogits at T=${T} V=${V}`, () => {
      const gradScale = 1 / T;
      const random = makeRandom(T * 17 + V);
      const logits = randomArray(random, T * V, 5);
      const targets = randomTokens(random, T, V);
      const losses = new Float32Array(T);
      const dlogits = new Float32Array(T * V).fill(Number.NaN);
      const total = crossEntropy(losses, dlogits, logits, targets, T, V, gradScale);
      const reference = refCrossEntropy(logits, targets, T, V, gradScale);
      expectClose('losses', losses, reference.losses, TOLERANCE);
      expectClose('dlogits', dlogits, reference.dlogits, TOLERANCE);
      expectClose('total', [total], [reference.losses.reduce((a, b) => a + b, 0)], TOLERANCE);
    });
  }

  it('losses without dlogits at T=64 V=1000', () => {
    const [T, V] = [64, 1000];
    const random = makeRandom(18);
    const logits = randomArray(random, T * V, 5);
    const targets = randomTokens(random, T, V);
    const losses = new Float32Array(T);
    crossEntropy(losses, null, logits, targets, T, V, 1);
    expectClose('losses', losses, refCrossEntropy(logits, targets, T, V, 1).losses, TOLERANCE);
  });

  it('handles logit gaps beyond exp range', () => {
    const [T, V] = [4, 30];
    const random = makeRandom(19);
    const logits = randomArray(random, T * V, 150);
    const targets = randomTokens(random, T, V);
    const losses = new Float32Array(T);
    const dlogits = new Float32Array(T * V);
    crossEntropy(losses, dlogits, logits, targets, T, V, 1);
    const reference = refCrossEntropy(logits, targets, T, V, 1);
    expectClose('losses', losses, reference.losses, TOLERANCE);
    expectClose('dlogits', dlogits, reference.dlogits, TOLERANCE);
  });

  it('uniform logits give log V', () => {
    const [T, V] = [3, 50];
    const losses = new Float32Array(T);
    const total = crossEntropy(losses, null, new Float32Array(T * V).fill(2.5), Int32Array.from([0, 7, 49]), T, V, 1);
    expectClose('losses', losses, [Math.log(V), Math.log(V), Math.log(V)], 1e-6);
    expectClose('total', [total], [T * Math.log(V)], 1e-6);
  });

  it('rejects a target outside the vocabulary', () => {
    const call = () => crossEntropy(new Float32Array(2), null, new Float32Array(8), Int32Array.from([1, 4]), 2, 4, 1);
    expect(call).toThrow(/target 4 at position 1 is outside the vocabulary \[0, 4\)/);
  });

  it('rejects NaN logits with NON_FINITE', () => {
    const logits = new Float32Array(8);
    logits[6] = Number.NaN;
    let error: unknown;
    try {
      crossEntropy(new Float32Array(2), new Float32Array(8), logits, Int32Array.from([0, 0]), 2, 4, 1);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(SnaxError);
    expect((error as SnaxError).code).toBe('NON_FINITE');
    expect((error as SnaxError).message).toMatch(/logits row 1 contains NaN or infinity/);
  });

  it('rejects a wrong dlogits length', () => {
    const call = () => crossEntropy(new Float32Array(2), new Float32Array(7), new Float32Array(8), new Int32Array(2), 2, 4, 1);
    expect(call).toThrow(/dlogits has 7 elements, expected 8/);
  });
});

// ----------------------------------------------------------------- adamw

describe('adamwStep', () => {
  for (const weightDecay of [0, 0.1]) {
    it(`matches reference over 5 steps, weight decay ${weightDecay}`, () => {
      const config: AdamwConfig = { lr: 1e-2, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay };
      const n = 10_007;
      const random = makeRandom(21);
      const param = randomArray(random, n);
      const m = new Float32Array(n);
      const v = new Float32Array(n);
      const refParam = Float64Array.from(param);
      const refM = new Float64Array(n);
      const refV = new Float64Array(n);
      for (let step = 1; step <= 5; step++) {
        const grad = randomArray(random, n);
        adamwStep(param, grad, m, v, config.lr, config.beta1, config.beta2, config.eps, config.weightDecay, step);
        refAdamwStep(refParam, grad, refM, refV, config, step);
      }
      expectClose('param', param, refParam, TOLERANCE);
      expectClose('m', m, refM, TOLERANCE);
      expectClose('v', v, refV, TOLERANCE);
    });
  }

  it('rejects step 0', () => {
    const call = () => adamwStep(new Float32Array(2), new Float32Array(2), new Float32Array(2), new Float32Array(2), 1e-3, 0.9, 0.95, 1e-8, 0, 0);
    expect(call).toThrow(/step must be an integer >= 1, got 0/);
  });

  it('rejects beta1 of 1', () => {
    const call = () => adamwStep(new Float32Array(2), new Float32Array(2), new Float32Array(2), new Float32Array(2), 1e-3, 1, 0.95, 1e-8, 0, 1);
    expect(call).toThrow(/beta1 must be in \[0, 1\), got 1/);
  });

  it('rejects a wrong moment length', () => {
    const call = () => adamwStep(new Float32Array(2), new Float32Array(2), new Float32Array(3), new Float32Array(2), 1e-3, 0.9, 0.95, 1e-8, 0, 1);
    expect(call).toThrow(/m has 3 elements, expected 2/);
  });
});

// ---------------------------------------------------------------- vector

describe('vector helpers', () => {
  it('sumSquares matches float64 sum', () => {
    const random = makeRandom(31);
    const x = randomArray(random, 100_003);
    let expected = 0;
    for (const value of x) expected += value * value;
    expectClose('sumSquares', [sumSquares(x)], [expected], 1e-12);
  });

  it('sumSquares is identical for 1, 2 and 3 threads', () => {
    const x = randomArray(makeRandom(32), 200_001);
    const results = withThreads(() => sumSquares(x));
    expect(results[1]).toBe(results[0]);
    expect(results[2]).toBe(results[0]);
  });

  it('sumSquares of empty is 0', () => {
    expect(sumSquares(new Float32Array(0))).toBe(0);
  });

  it('scaleInPlace scales every element', () => {
    const x = randomArray(makeRandom(33), 50_001);
    const expected = Float32Array.from(x, (value) => Math.fround(value * Math.fround(0.3)));
    scaleInPlace(x, 0.3);
    expect(sameBits(x, expected)).toBe(true);
  });

  it('addInPlace adds every element', () => {
    const random = makeRandom(34);
    const a = randomArray(random, 50_001);
    const b = randomArray(random, 50_001);
    const expected = Float32Array.from(a, (value, i) => Math.fround(value + b[i]));
    addInPlace(a, b);
    expect(sameBits(a, expected)).toBe(true);
  });

  it('addInPlace rejects a length mismatch', () => {
    const call = () => addInPlace(new Float32Array(3), new Float32Array(4));
    expect(call).toThrow(/b has 4 elements, expected 3/);
  });
});
