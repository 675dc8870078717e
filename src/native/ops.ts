/**
 * The dense transformer ops and the optimizer on the native addon:
 * embedding, RMSNorm, linear, causal attention with RoPE, SwiGLU,
 * cross-entropy, AdamW and flat vector helpers.
 *
 * Shape letters: T tokens, D width, V vocabulary, I/O input/output width,
 * N SwiGLU width, B batch, S sequence length, H heads. Arrays are
 * Float32Array (token ids Int32Array), row-major. "=" marks an output that is
 * written, "+=" one that is accumulated into. Every function checks sizes,
 * lengths and dtypes here before the native call, and rethrows native errors
 * as SnaxError.
 */
import { SnaxError, fromNative } from '../errors.js';
import { addon } from './addon.js';
import { expectInt32Length, expectInteger, expectLength } from './check.js';

/** Throws INVALID_ARGUMENT unless value is a finite number >= min. */
function expectFiniteNumber(name: string, value: unknown, min = -Infinity): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
    const range = min === -Infinity ? 'a finite number' : `a finite number >= ${min}`;
    throw new SnaxError('INVALID_ARGUMENT', `${name} must be ${range}, got ${String(value)}`);
  }
}

/** Throws INVALID_DTYPE unless value is a Float32Array (of any length). */
function expectFloat32(name: string, value: unknown): void {
  expectLength(name, value, value instanceof Float32Array ? value.length : 0);
}

function callNative<R>(call: () => R): R {
  try {
    return call();
  } catch (error) {
    throw fromNative(error);
  }
}

// ------------------------------------------------------------- embedding

/** out_TD[t] = wte_VD[tokens_T[t]]. A token outside [0, V) raises INVALID_ARGUMENT naming its position and id. */
export function embeddingForward(out_TD: Float32Array, tokens_T: Int32Array, wte_VD: Float32Array, T: number, D: number, V: number): void {
  expectInteger('T', T, 0);
  expectInteger('D', D, 1);
  expectInteger('V', V, 1);
  expectLength('out', out_TD, T * D);
  expectInt32Length('tokens', tokens_T, T);
  expectLength('wte', wte_VD, V * D);
  callNative(() => addon().embeddingForward(out_TD, tokens_T, wte_VD, T, D, V));
}

/** dwte_VD[tokens_T[t]] += dout_TD[t]. Each row sums its tokens in token order, for any thread count. */
export function embeddingBackward(dwte_VD: Float32Array, dout_TD: Float32Array, tokens_T: Int32Array, T: number, D: number, V: number): void {
  expectInteger('T', T, 0);
  expectInteger('D', D, 1);
  expectInteger('V', V, 1);
  expectLength('dwte', dwte_VD, V * D);
  expectLength('dout', dout_TD, T * D);
  expectInt32Length('tokens', tokens_T, T);
  callNative(() => addon().embeddingBackward(dwte_VD, dout_TD, tokens_T, T, D, V));
}

// --------------------------------------------------------------- rmsnorm

/** out_TD = x_TD * rstd_T * weight_D with rstd = 1/sqrt(mean(x^2) + eps). Writes rstd_T (=) for backward. */
export function rmsnormForward(out_TD: Float32Array, rstd_T: Float32Array, x_TD: Float32Array, weight_D: Float32Array, T: number, D: number, eps: number): void {
  expectInteger('T', T, 0);
  expectInteger('D', D, 1);
  expectFiniteNumber('eps', eps, 0);
  expectLength('out', out_TD, T * D);
  expectLength('rstd', rstd_T, T);
  expectLength('x', x_TD, T * D);
  expectLength('weight', weight_D, D);
  callNative(() => addon().rmsnormForward(out_TD, rstd_T, x_TD, weight_D, T, D, eps));
}

/** Accumulates the RMSNorm gradients: dx_TD += and dweight_D +=. */
export function rmsnormBackward(
  dx_TD: Float32Array,
  dweight_D: Float32Array,
  dout_TD: Float32Array,
  x_TD: Float32Array,
  rstd_T: Float32Array,
  weight_D: Float32Array,
  T: number,
  D: number,
): void {
  expectInteger('T', T, 0);
  expectInteger('D', D, 1);
  expectLength('dx', dx_TD, T * D);
  expectLength('dweight', dweight_D, D);
  expectLength('dout', dout_TD, T * D);
  expectLength('x', x_TD, T * D);
  expectLength('rstd', rstd_T, T);
  expectLength('weight', weight_D, D);
  callNative(() => addon().rmsnormBackward(dx_TD, dweight_D, dout_TD, x_TD, rstd_T, weight_D, T, D));
}

// ---------------------------------------------------------------- linear

/** out_TO = x_TI * w_OI^T, without bias. The weight has one row per output feature. */
export function linearForward(out_TO: Float32Array, x_TI: Float32Array, w_OI: Float32Array, T: number, I: number, O: number): void {
  expectInteger('T', T, 0);
  expectInteger('I', I, 1);
  expectInteger('O', O, 1);
  expectLength('out', out_TO, T * O);
  expectLength('x', x_TI, T * I);
  expectLength('w', w_OI, O * I);
  callNative(() => addon().linearForward(out_TO, x_TI, w_OI, T, I, O));
}

/** dx_TI = dout_TO * w_OI (skipped when dx_TI is null) and dw_OI += dout_TO^T * x_TI. */
export function linearBackward(
  dx_TI: Float32Array | null,
  dw_OI: Float32Array,
  dout_TO: Float32Array,
  x_TI: Float32Array,
  w_OI: Float32Array,
  T: number,
  I: number,
  O: number,
): void {
  expectInteger('T', T, 0);
  expectInteger('I', I, 1);
  expectInteger('O', O, 1);
  if (dx_TI !== null) expectLength('dx', dx_TI, T * I);
  expectLength('dw', dw_OI, O * I);
  expectLength('dout', dout_TO, T * O);
  expectLength('x', x_TI, T * I);
  expectLength('w', w_OI, O * I);
  callNative(() => addon().linearBackward(dx_TI, dw_OI, dout_TO, x_TI, w_OI, T, I, O));
}

// ------------------------------------------------------------- attention

function checkAttentionSizes(B: number, S: number, D: number, H: number, ropeTheta: number): void {
  expectInteger('B', B, 0);
  expectInteger('S', S, 0);
  expectInteger('D', D, 1);
  expectInteger('H', H, 1);
  if (D % H !== 0) throw new SnaxError('INVALID_ARGUMENT', `H=${H} heads must divide the width D=${D}`);
  if ((D / H) % 2 !== 0) {
    throw new SnaxError('INVALID_ARGUMENT', `head width D/H=${D / H} must be even for RoPE (D=${D}, H=${H})`);
  }
  expectFiniteNumber('ropeTheta', ropeTheta, Number.MIN_VALUE);
}

/**
 * Causal multi-head self-attention with RoPE on q and k. qkv_BS3D contains q,
 * k and v side by side per token (columns [0, D), [D, 2D), [2D, 3D)), and head
 * h uses columns h*D/H..(h+1)*D/H of each. RoPE rotates the pair (2i, 2i+1)
 * of each head by pos * ropeTheta^(-2i/headDim), pos being the position in
 * the sequence; scores are scaled by 1/sqrt(headDim). Writes out_BSD and saves
 * qkvRot_BS3D (roped q and k, plain v) and probs_BHSS (softmax, zero above
 * the diagonal).
 */
export function attentionForward(...args: AttentionForwardArgs): void {
  runAttentionForward('attentionForward', ...args);
}

type AttentionForwardArgs = [
  out_BSD: Float32Array,
  qkvRot_BS3D: Float32Array,
  probs_BHSS: Float32Array,
  qkv_BS3D: Float32Array,
  B: number,
  S: number,
  D: number,
  H: number,
  ropeTheta: number,
];

function runAttentionForward(
  kernel: 'attentionForward' | 'attentionForwardReference',
  ...[out_BSD, qkvRot_BS3D, probs_BHSS, qkv_BS3D, B, S, D, H, ropeTheta]: AttentionForwardArgs
): void {
  checkAttentionSizes(B, S, D, H, ropeTheta);
  expectLength('out', out_BSD, B * S * D);
  expectLength('qkvRot', qkvRot_BS3D, B * S * 3 * D);
  expectLength('probs', probs_BHSS, B * H * S * S);
  expectLength('qkv', qkv_BS3D, B * S * 3 * D);
  callNative(() => addon()[kernel](out_BSD, qkvRot_BS3D, probs_BHSS, qkv_BS3D, B, S, D, H, ropeTheta));
}

/** dqkv_BS3D = the gradient with respect to the un-roped qkv, from the tensors attentionForward saved. */
export function attentionBackward(...args: AttentionBackwardArgs): void {
  runAttentionBackward('attentionBackward', ...args);
}

type AttentionBackwardArgs = [
  dqkv_BS3D: Float32Array,
  dout_BSD: Float32Array,
  qkvRot_BS3D: Float32Array,
  probs_BHSS: Float32Array,
  B: number,
  S: number,
  D: number,
  H: number,
  ropeTheta: number,
];

function runAttentionBackward(
  kernel: 'attentionBackward' | 'attentionBackwardReference',
  ...[dqkv_BS3D, dout_BSD, qkvRot_BS3D, probs_BHSS, B, S, D, H, ropeTheta]: AttentionBackwardArgs
): void {
  checkAttentionSizes(B, S, D, H, ropeTheta);
  expectLength('dqkv', dqkv_BS3D, B * S * 3 * D);
  expectLength('dout', dout_BSD, B * S * D);
  expectLength('qkvRot', qkvRot_BS3D, B * S * 3 * D);
  expectLength('probs', probs_BHSS, B * H * S * S);
  callNative(() => addon()[kernel](dqkv_BS3D, dout_BSD, qkvRot_BS3D, probs_BHSS, B, S, D, H, ropeTheta));
}

/**
 * Runs the plain row-at-a-time attention kept in the addon, with the same
 * arguments and checks as attentionForward. For tests and benchmarks only:
 * it is several times slower.
 */
export function attentionForwardReference(...args: AttentionForwardArgs): void {
  runAttentionForward('attentionForwardReference', ...args);
}

/** Runs the plain attentionBackward kept in the addon. For tests and benchmarks only. */
export function attentionBackwardReference(...args: AttentionBackwardArgs): void {
  runAttentionBackward('attentionBackwardReference', ...args);
}

// ---------------------------------------------------------------- swiglu

/** out_TN[t, j] = silu(h_T2N[t, 2j]) * h_T2N[t, 2j + 1]: gate and up columns interleaved. */
export function swigluForward(out_TN: Float32Array, h_T2N: Float32Array, T: number, N: number): void {
  expectInteger('T', T, 0);
  expectInteger('N', N, 1);
  expectLength('out', out_TN, T * N);
  expectLength('h', h_T2N, T * 2 * N);
  callNative(() => addon().swigluForward(out_TN, h_T2N, T, N));
}

/** dh_T2N = the gradient with respect to the interleaved gate/up input h_T2N. */
export function swigluBackward(dh_T2N: Float32Array, dout_TN: Float32Array, h_T2N: Float32Array, T: number, N: number): void {
  expectInteger('T', T, 0);
  expectInteger('N', N, 1);
  expectLength('dh', dh_T2N, T * 2 * N);
  expectLength('dout', dout_TN, T * N);
  expectLength('h', h_T2N, T * 2 * N);
  callNative(() => addon().swigluBackward(dh_T2N, dout_TN, h_T2N, T, N));
}

// --------------------------------------------------------- cross entropy

/**
 * Computes losses_T[t] = logsumexp(logits[t]) - logits[t][targets[t]] and, when
 * dlogits_TV is given, dlogits_TV = (softmax - onehot) * gradScale. Returns
 * the sum of losses_T, accumulated in double. A target outside [0, V) raises
 * INVALID_ARGUMENT; a row with NaN or infinity raises NON_FINITE naming the row.
 */
export function crossEntropy(
  losses_T: Float32Array,
  dlogits_TV: Float32Array | null,
  logits_TV: Float32Array,
  targets_T: Int32Array,
  T: number,
  V: number,
  gradScale: number,
): number {
  expectInteger('T', T, 0);
  expectInteger('V', V, 1);
  expectFiniteNumber('gradScale', gradScale);
  expectLength('losses', losses_T, T);
  if (dlogits_TV !== null) expectLength('dlogits', dlogits_TV, T * V);
  expectLength('logits', logits_TV, T * V);
  expectInt32Length('targets', targets_T, T);
  return callNative(() => addon().crossEntropy(losses_T, dlogits_TV, logits_TV, targets_T, T, V, gradScale) as number);
}

// ----------------------------------------------------------------- adamw

/**
 * Runs one AdamW step in place on param, m and v: decoupled weight decay,
 * bias correction, step counting from 1.
 * param -= lr * (mhat / (sqrt(vhat) + eps) + weightDecay * param).
 */
export function adamwStep(
  param: Float32Array,
  grad: Float32Array,
  m: Float32Array,
  v: Float32Array,
  lr: number,
  beta1: number,
  beta2: number,
  eps: number,
  weightDecay: number,
  step: number,
): void {
  expectFloat32('param', param);
  expectLength('grad', grad, param.length);
  expectLength('m', m, param.length);
  expectLength('v', v, param.length);
  expectFiniteNumber('lr', lr, 0);
  expectFiniteNumber('beta1', beta1, 0);
  expectFiniteNumber('beta2', beta2, 0);
  if (beta1 >= 1) throw new SnaxError('INVALID_ARGUMENT', `beta1 must be in [0, 1), got ${beta1}`);
  if (beta2 >= 1) throw new SnaxError('INVALID_ARGUMENT', `beta2 must be in [0, 1), got ${beta2}`);
  expectFiniteNumber('eps', eps, 0);
  expectFiniteNumber('weightDecay', weightDecay, 0);
  expectInteger('step', step, 1);
  callNative(() => addon().adamwStep(param, grad, m, v, lr, beta1, beta2, eps, weightDecay, step));
}

// ---------------------------------------------------------------- vector

/** Returns the sum of x^2, accumulated in double in an order that does not depend on the thread count. */
export function sumSquares(x: Float32Array): number {
  expectFloat32('x', x);
  return callNative(() => addon().sumSquares(x) as number);
}

/** x *= factor, in place. */
export function scaleInPlace(x: Float32Array, factor: number): void {
  expectFloat32('x', x);
  expectFiniteNumber('factor', factor);
  callNative(() => addon().scaleInPlace(x, factor));
}

/** a += b, in place. */
export function addInPlace(a: Float32Array, b: Float32Array): void {
  expectFloat32('a', a);
  expectLength('b', b, a.length);
  callNative(() => addon().addInPlace(a, b));
}
