/**
 * Causal attention with RoPE against a float64 reference written here:
 * outputs, the saved roped qkv and probabilities, and the gradient with
 * respect to the un-roped qkv. Tolerance: relativeError (max abs difference
 * over max abs reference, Infinity on NaN) <= 1e-4. The reference gradient
 * is checked once by central finite differences.
 */
import { describe, expect, it } from 'vitest';
import {
  attentionBackward,
  attentionBackwardReference,
  attentionForward,
  attentionForwardReference,
} from '../../src/native/ops.js';
import { setNumThreads } from '../../src/native/core.js';
import { expectClose, makeRandom, randomArray, relativeError } from '../helpers/numeric.js';

const TOLERANCE = 1e-4;
const THETA = 10_000;

interface Shape {
  B: number;
  S: number;
  D: number;
  H: number;
}

// ----------------------------------------------------- float64 reference

/** Rotates the pairs of every q and k head of qkv. Direction -1 applies the transpose. */
function refRope(qkv: ArrayLike<number>, { B, S, D, H }: Shape, direction: 1 | -1): Float64Array {
  const hd = D / H;
  const out = Float64Array.from(qkv);
  for (let b = 0; b < B; b++)
    for (let s = 0; s < S; s++)
      for (const part of [0, 1])
        for (let h = 0; h < H; h++)
          for (let i = 0; i < hd / 2; i++) {
            const angle = s * THETA ** ((-2 * i) / hd);
            const c = Math.cos(angle);
            const sn = direction * Math.sin(angle);
            const at = (b * S + s) * 3 * D + part * D + h * hd + 2 * i;
            const x0 = qkv[at];
            const x1 = qkv[at + 1];
            out[at] = x0 * c - x1 * sn;
            out[at + 1] = x0 * sn + x1 * c;
          }
  return out;
}

function refAttentionForward(qkv: ArrayLike<number>, shape: Shape) {
  const { B, S, D, H } = shape;
  const hd = D / H;
  const rot = refRope(qkv, shape, 1);
  const out = new Float64Array(B * S * D);
  const probs = new Float64Array(B * H * S * S);
  const at = (b: number, s: number, part: number, h: number): number => (b * S + s) * 3 * D + part * D + h * hd;
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let i = 0; i < S; i++) {
        const row = ((b * H + h) * S + i) * S;
        let max = -Infinity;
        for (let j = 0; j <= i; j++) {
          let score = 0;
          for (let d = 0; d < hd; d++) score += rot[at(b, i, 0, h) + d] * rot[at(b, j, 1, h) + d];
          probs[row + j] = score / Math.sqrt(hd);
          max = Math.max(max, probs[row + j]);
        }
        let sum = 0;
        for (let j = 0; j <= i; j++) {
          probs[row + j] = Math.exp(probs[row + j] - max);
          sum += probs[row + j];
        }
        for (let j = 0; j <= i; j++) probs[row + j] /= sum;
        for (let j = 0; j <= i; j++)
          for (let d = 0; d < hd; d++) out[(b * S + i) * D + h * hd + d] += probs[row + j] * rot[at(b, j, 2, h) + d];
      }
  return { out, rot, probs };
}

function refAttentionBackward(dout: ArrayLike<number>, qkv: ArrayLike<number>, shape: Shape): Float64Array {
  const { B, S, D, H } = shape;
  const hd = D / H;
  const scale = 1 / Math.sqrt(hd);
  const { rot, probs } = refAttentionForward(qkv, shape);
  const drot = new Float64Array(B * S * 3 * D);
  const at = (b: number, s: number, part: number, h: number): number => (b * S + s) * 3 * D + part * D + h * hd;
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let i = 0; i < S; i++) {
        const row = ((b * H + h) * S + i) * S;
        const doutAt = (b * S + i) * D + h * hd;
        const dprobs = new Float64Array(S);
        let weighted = 0;
        for (let j = 0; j <= i; j++) {
          for (let d = 0; d < hd; d++) dprobs[j] += dout[doutAt + d] * rot[at(b, j, 2, h) + d];
          weighted += probs[row + j] * dprobs[j];
        }
        for (let j = 0; j <= i; j++) {
          const dscore = probs[row + j] * (dprobs[j] - weighted) * scale;
          for (let d = 0; d < hd; d++) {
            drot[at(b, i, 0, h) + d] += dscore * rot[at(b, j, 1, h) + d];
            drot[at(b, j, 1, h) + d] += dscore * rot[at(b, i, 0, h) + d];
            drot[at(b, j, 2, h) + d] += probs[row + j] * dout[doutAt + d];
          }
        }
      }
  return refRope(drot, shape, -1);
}

// ---------------------------------------------------------------- helpers

function runForward(qkv: Float32Array, { B, S, D, H }: Shape) {
  const out = new Float32Array(B * S * D);
  const rot = new Float32Array(B * S * 3 * D);
  const probs = new Float32Array(B * H * S * S).fill(Number.NaN);
  attentionForward(out, rot, probs, qkv, B, S, D, H, THETA);
  return { out, rot, probs };
}

function runBackward(dout: Float32Array, saved: { rot: Float32Array; probs: Float32Array }, { B, S, D, H }: Shape): Float32Array {
  const dqkv = new Float32Array(B * S * 3 * D).fill(Number.NaN);
  attentionBackward(dqkv, dout, saved.rot, saved.probs, B, S, D, H, THETA);
  return dqkv;
}

// ------------------------------------------------------------------ tests

describe('attention reference', () => {
  it('matches finite differences', () => {
    const shape: Shape = { B: 2, S: 4, D: 8, H: 2 };
    const random = makeRandom(41);
    const qkv = Float64Array.from(randomArray(random, shape.B * shape.S * 3 * shape.D));
    const dout = Float64Array.from(randomArray(random, shape.B * shape.S * shape.D));
    const loss = (x: Float64Array): number => refAttentionForward(x, shape).out.reduce((sum, value, i) => sum + value * dout[i], 0);
    const numeric = new Float64Array(qkv.length);
    const h = 1e-5;
    for (let i = 0; i < qkv.length; i++) {
      const saved = qkv[i];
      qkv[i] = saved + h;
      const up = loss(qkv);
      qkv[i] = saved - h;
      const down = loss(qkv);
      qkv[i] = saved;
      numeric[i] = (up - down) / (2 * h);
    }
    expect(relativeError(refAttentionBackward(dout, qkv, shape), numeric)).toBeLessThanOrEqual(1e-6);
  });
});

describe('attention', () => {
  const shapes: Shape[] = [
    { B: 2, S: 5, D: 100, H: 2 },
    { B: 1, S: 7, D: 24, H: 4 },
    { B: 1, S: 1, D: 2, H: 1 },
    { B: 2, S: 64, D: 64, H: 4 },
  ];
  for (const shape of shapes) {
    const { B, S, D, H } = shape;
    it(`forward and backward at B=${B} S=${S} D=${D} H=${H}`, () => {
      const random = makeRandom(B * 1000 + S * 10 + D + H);
      const qkv = randomArray(random, B * S * 3 * D, 2);
      const saved = runForward(qkv, shape);
      const reference = refAttentionForward(qkv, shape);
      expectClose('out', saved.out, reference.out, TOLERANCE);
      expectClose('qkvRot', saved.rot, reference.rot, TOLERANCE);
      expectClose('probs', saved.probs, reference.probs, TOLERANCE);

      const dout = randomArray(random, B * S * D);
      const dqkv = runBackward(dout, saved, shape);
      expectClose('dqkv', dqkv, refAttentionBackward(dout, qkv, shape), TOLERANCE);
    });
  }

  // Sequence lengths around the 4-row blocks and 32-key panels, and head
  // widths below, at and above one 32-column step.
  const blockShapes: Shape[] = [
    { B: 1, S: 1, D: 8, H: 1 },
    { B: 1, S: 7, D: 4, H: 2 },
    { B: 2, S: 33, D: 60, H: 2 },
    { B: 1, S: 128, D: 64, H: 2 },
    { B: 1, S: 200, D: 64, H: 1 },
    { B: 1, S: 33, D: 24, H: 3 },
  ];
  for (const shape of blockShapes) {
    const { B, S, D, H } = shape;
    it(`blocked paths at S=${S} hd=${D / H}`, () => {
      const random = makeRandom(7 * S + D + H);
      const qkv = randomArray(random, B * S * 3 * D, 2);
      const saved = runForward(qkv, shape);
      const reference = refAttentionForward(qkv, shape);
      expectClose('out', saved.out, reference.out, TOLERANCE);
      expectClose('probs', saved.probs, reference.probs, TOLERANCE);

      const dout = randomArray(random, B * S * D);
      expectClose('dqkv', runBackward(dout, saved, shape), refAttentionBackward(dout, qkv, shape), TOLERANCE);
    });
  }

  it('matches the reference kernels in the addon', () => {
    const shape: Shape = { B: 2, S: 45, D: 64, H: 2 };
    const { B, S, D, H } = shape;
    const random = makeRandom(44);
    const qkv = randomArray(random, B * S * 3 * D, 2);
    const dout = randomArray(random, B * S * D);
    const fast = runForward(qkv, shape);
    const out = new Float32Array(B * S * D);
    const rot = new Float32Array(B * S * 3 * D);
    const probs = new Float32Array(B * H * S * S);
    attentionForwardReference(out, rot, probs, qkv, B, S, D, H, THETA);
    expectClose('out', fast.out, out, 1e-5);
    expectClose('probs', fast.probs, probs, 1e-5);

    const dqkv = new Float32Array(B * S * 3 * D);
    attentionBackwardReference(dqkv, dout, rot, probs, B, S, D, H, THETA);
    expectClose('dqkv', runBackward(dout, fast, shape), dqkv, 1e-5);
  });

  it('forward is bitwise identical for 1, 2 and 3 threads', () => {
    const shape: Shape = { B: 3, S: 37, D: 60, H: 2 };
    const random = makeRandom(45);
    const qkv = randomArray(random, shape.B * shape.S * 3 * shape.D);
    const results: { out: Float32Array; probs: Float32Array }[] = [];
    try {
      for (const threads of [1, 2, 3]) {
        setNumThreads(threads);
        results.push(runForward(qkv, shape));
      }
    } finally {
      setNumThreads(0);
    }
    for (const result of results.slice(1)) {
      expect(Buffer.from(result.out.buffer).equals(Buffer.from(results[0].out.buffer))).toBe(true);
      expect(Buffer.from(result.probs.buffer).equals(Buffer.from(results[0].probs.buffer))).toBe(true);
    }
  });

  it('later tokens do not change earlier outputs', () => {
    const shape: Shape = { B: 1, S: 6, D: 16, H: 2 };
    const random = makeRandom(42);
    const qkv = randomArray(random, shape.S * 3 * shape.D);
    const changed = qkv.slice();
    const position = 3;
    for (let c = 0; c < 3 * shape.D; c++) changed[position * 3 * shape.D + c] += 1;
    const before = runForward(qkv, shape).out;
    const after = runForward(changed, shape).out;
    const prefix = position * shape.D;
    expect(Array.from(after.subarray(0, prefix))).toEqual(Array.from(before.subarray(0, prefix)));
    expect(relativeError(after.subarray(prefix), before.subarray(prefix))).toBeGreaterThan(1e-3);
  });

  it('backward is bitwise identical for 1, 2 and 3 threads', () => {
    const shape: Shape = { B: 3, S: 40, D: 48, H: 4 };
    const random = makeRandom(43);
    const qkv = randomArray(random, shape.B * shape.S * 3 * shape.D);
    const dout = randomArray(random, shape.B * shape.S * shape.D);
    const results: Float32Array[] = [];
    try {
      for (const threads of [1, 2, 3]) {
        setNumThreads(threads);
        results.push(runBackward(dout, runForward(qkv, shape), shape));
      }
    } finally {
      setNumThreads(0);
    }
    expect(Buffer.from(results[1].buffer).equals(Buffer.from(results[0].buffer))).toBe(true);
    expect(Buffer.from(results[2].buffer).equals(Buffer.from(results[0].buffer))).toBe(true);
  });

  it('rejects heads that do not divide the width', () => {
    const call = () => runForward(new Float32Array(30), { B: 1, S: 1, D: 10, H: 3 });
    expect(call).toThrow(/H=3 heads must divide the width D=10/);
  });

  it('rejects an odd head width', () => {
    const call = () => runForward(new Float32Array(300), { B: 1, S: 1, D: 100, H: 4 });
    expect(call).toThrow(/head width D\/H=25 must be even for RoPE/);
  });

  it('rejects a wrong probs length', () => {
    const call = () => attentionForward(new Float32Array(8), new Float32Array(24), new Float32Array(3), new Float32Array(24), 1, 2, 4, 1, THETA);
    expect(call).toThrow(/probs has 3 elements, expected 4/);
  });

  it('rejects a non-positive rope theta', () => {
    const call = () => attentionForward(new Float32Array(8), new Float32Array(24), new Float32Array(4), new Float32Array(24), 1, 2, 4, 1, 0);
    expect(call).toThrow(/ropeTheta must be a finite number/);
  });
});
