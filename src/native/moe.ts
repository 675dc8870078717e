/**
 * The MoE layer on the native CPU kernels: router, token rounding, SwiGLU
 * experts, and backward under three recompute strategies, plus the plain
 * per-expert baseline that benchmarks compare against.
 *
 * Shapes (row-major, suffixes in names): T tokens, D width, E experts,
 * K experts per token, N expert width. w1_E2ND rows are interleaved: row 2j
 * of expert e is gate j and row 2j+1 is up j.
 *
 * Every argument is checked here before the native call. A bad call throws
 * a SnaxError (SHAPE_MISMATCH, INVALID_DTYPE, INVALID_ARGUMENT) that names
 * the argument, and fromNative converts native failures such as NON_FINITE.
 */
import { SnaxError, fromNative } from '../errors.js';
import { addon } from './addon.js';
import { describeType, expectInteger, expectLength } from './check.js';
import { tileSize } from './core.js';

export type MoeGate = 'renormalize' | 'softmax';
export type MoeRounding = 'none' | 'up' | 'down' | 'nearest';
export type MoeStrategy = 'snax' | 'cache-all' | 'full';

export interface MoeOptions {
  tokens: number; // T
  width: number; // D
  experts: number; // E
  topK: number; // K, in [1, E]
  expertWidth: number; // N
  gate?: MoeGate; // default 'renormalize'
  rounding?: MoeRounding; // default 'none'
  tile?: number; // rounding tile M; default tileSize()
  strategy?: MoeStrategy; // default 'snax'
  balanceLoss?: number; // coefficient of the balancing loss; default 0
  zLoss?: number; // coefficient of the router z-loss; default 0
  saveForBackward?: boolean; // default true; false returns no context
}

export interface MoeWeights {
  router_ED: Float32Array;
  w1_E2ND: Float32Array;
  w2_EDN: Float32Array;
}

export interface MoeGrads {
  dx_TD: Float32Array; // written (=)
  dRouter_ED: Float32Array; // accumulated (+=)
  dw1_E2ND: Float32Array; // accumulated (+=)
  dw2_EDN: Float32Array; // accumulated (+=)
}

export interface MoeStats {
  tokensPerExpert: Int32Array; // final pair count of each expert, after rounding
  minLoad: number;
  maxLoad: number;
  meanLoad: number;
  droppedTokens: number; // token-choice pairs removed by rounding
  addedTokens: number; // pairs added by rounding
  tokensWithoutExpert: number; // tokens routed to no expert (residual only)
  paddingWaste: number; // sum(ceil(f/M)*M) / sum(f) - 1 with the final counts
  paddingWasteUnrounded: number; // the same with the top-K counts
  balanceLoss: number; // unscaled E * sum_e mean_t(p_te) * count_e / (T*K)
  zLoss: number; // unscaled mean_t(logsumexp_t^2)
}

export interface MoeMemory {
  savedBytes: number; // bytes kept for backward, counted by the allocator
  peakTemporaryBytes: number; // peak bytes of forward's temporary buffers
}

export interface MoeForwardResult {
  out_TD: Float32Array;
  context: MoeContext | null;
  stats: MoeStats;
  memory: MoeMemory;
}

const GATES: readonly MoeGate[] = ['renormalize', 'softmax'];
const ROUNDINGS: readonly MoeRounding[] = ['none', 'up', 'down', 'nearest'];
const STRATEGIES: readonly MoeStrategy[] = ['snax', 'cache-all', 'full'];

/** Options with every default filled and enums as the native integers. */
interface NativeOptions {
  tokens: number;
  width: number;
  experts: number;
  topK: number;
  expertWidth: number;
  gate: number;
  rounding: number;
  tile: number;
  strategy: number;
  balanceLoss: number;
  zLoss: number;
  saveForBackward: boolean;
}

/**
 * The buffers forward saved for backward, and a reference to x_TD. The
 * caller must not modify x_TD until backward has run. Backward consumes the
 * context, and release() frees it without a backward (a second call does
 * nothing).
 */
export class MoeContext {
  readonly savedBytes: number;
  readonly #options: NativeOptions;
  readonly #baseline: boolean;
  #handle: unknown;
  #x_TD: Float32Array | null;

  /** @internal Built by moeForward and moeBaselineForward only. */
  constructor(handle: unknown, x_TD: Float32Array, options: NativeOptions, baseline: boolean, savedBytes: number) {
    this.#handle = handle;
    this.#x_TD = x_TD;
    this.#options = options;
    this.#baseline = baseline;
    this.savedBytes = savedBytes;
  }

  /** Frees the saved buffers now instead of at garbage collection. */
  release(): void {
    if (this.#handle === null) return;
    addon().moeRelease(this.#handle);
    this.#handle = null;
    this.#x_TD = null;
  }

  /** @internal Hands the native handle to one backward call. */
  take(baseline: boolean): { handle: unknown; options: NativeOptions; x_TD: Float32Array } {
    if (this.#handle === null || this.#x_TD === null) {
      throw new SnaxError('INVALID_ARGUMENT', 'context was released or already used by a backward pass', {
        fix: 'run forward again with saveForBackward: true before each backward',
      });
    }
    if (baseline !== this.#baseline) {
      const expected = this.#baseline ? 'moeBaselineBackward' : 'moeBackward';
      throw new SnaxError('INVALID_ARGUMENT', `context comes from a different forward; pass it to ${expected}`);
    }
    const taken = { handle: this.#handle, options: this.#options, x_TD: this.#x_TD };
    this.#handle = null;
    this.#x_TD = null;
    return taken;
  }

  /** @internal Checks backward's arrays against the forward shapes without consuming the context. */
  get options(): NativeOptions {
    return this.#options;
  }
}

function pickEnum<T extends string>(name: string, value: T | undefined, allowed: readonly T[], fallback: T): number {
  const chosen = value ?? fallback;
  const index = allowed.indexOf(chosen);
  if (index < 0) {
    const list = allowed.map((item) => `'${item}'`).join(', ');
    throw new SnaxError('INVALID_ARGUMENT', `${name} must be one of ${list}, got ${JSON.stringify(value)}`);
  }
  return index;
}

function pickCoefficient(name: string, value: number | undefined): number {
  const chosen = value ?? 0;
  if (typeof chosen !== 'number' || !Number.isFinite(chosen) || chosen < 0) {
    throw new SnaxError('INVALID_ARGUMENT', `${name} must be a finite number >= 0, got ${String(value)}`);
  }
  return chosen;
}

/** Checks the options and fills their defaults. */
function resolveOptions(options: MoeOptions): NativeOptions {
  if (typeof options !== 'object' || options === null) {
    throw new SnaxError('INVALID_ARGUMENT', `options must be an object, got ${describeType(options)}`);
  }
  expectInteger('options.tokens', options.tokens, 1);
  expectInteger('options.width', options.width, 1);
  expectInteger('options.experts', options.experts, 1);
  expectInteger('options.expertWidth', options.expertWidth, 1);
  expectInteger('options.topK', options.topK, 1, options.experts);
  const gate = pickEnum('options.gate', options.gate, GATES, 'renormalize');
  if (options.topK === 1 && GATES[gate] === 'renormalize') {
    throw new SnaxError(
      'INVALID_ARGUMENT',
      "options.topK=1 with gate 'renormalize' is rejected: a softmax over one logit is always 1, so the router would learn nothing from the loss",
      { fix: "use gate 'softmax' with topK=1" },
    );
  }

  const tile = options.tile ?? tileSize();
  expectInteger('options.tile', tile, 1);

  if (options.saveForBackward !== undefined && typeof options.saveForBackward !== 'boolean') {
    throw new SnaxError('INVALID_ARGUMENT', `options.saveForBackward must be a boolean, got ${describeType(options.saveForBackward)}`);
  }

  return {
    tokens: options.tokens,
    width: options.width,
    experts: options.experts,
    topK: options.topK,
    expertWidth: options.expertWidth,
    gate,
    rounding: pickEnum('options.rounding', options.rounding, ROUNDINGS, 'none'),
    tile,
    strategy: pickEnum('options.strategy', options.strategy, STRATEGIES, 'snax'),
    balanceLoss: pickCoefficient('options.balanceLoss', options.balanceLoss),
    zLoss: pickCoefficient('options.zLoss', options.zLoss),
    saveForBackward: options.saveForBackward ?? true,
  };
}

function checkWeights(weights: MoeWeights, o: NativeOptions): void {
  if (typeof weights !== 'object' || weights === null) {
    throw new SnaxError('INVALID_ARGUMENT', `weights must be an object, got ${describeType(weights)}`);
  }
  expectLength('router_ED', weights.router_ED, o.experts * o.width);
  expectLength('w1_E2ND', weights.w1_E2ND, o.experts * 2 * o.expertWidth * o.width);
  expectLength('w2_EDN', weights.w2_EDN, o.experts * o.width * o.expertWidth);
}

function checkGrads(grads: MoeGrads, o: NativeOptions): void {
  if (typeof grads !== 'object' || grads === null) {
    throw new SnaxError('INVALID_ARGUMENT', `grads must be an object, got ${describeType(grads)}`);
  }
  expectLength('dx_TD', grads.dx_TD, o.tokens * o.width);
  expectLength('dRouter_ED', grads.dRouter_ED, o.experts * o.width);
  expectLength('dw1_E2ND', grads.dw1_E2ND, o.experts * 2 * o.expertWidth * o.width);
  expectLength('dw2_EDN', grads.dw2_EDN, o.experts * o.width * o.expertWidth);
}

interface RawForward {
  context: unknown;
  tokensPerExpert: Int32Array;
  droppedTokens: number;
  addedTokens: number;
  tokensWithoutExpert: number;
  paddingWaste: number;
  paddingWasteUnrounded: number;
  balanceLoss: number;
  zLoss: number;
  savedBytes: number;
  peakTemporaryBytes: number;
}

interface PreparedForward {
  args: [Float32Array, Float32Array, Float32Array, Float32Array, Float32Array, NativeOptions];
  finish: (raw: RawForward) => MoeForwardResult;
}

function prepareForward(
  x_TD: Float32Array,
  weights: MoeWeights,
  options: MoeOptions,
  out_TD: Float32Array | undefined,
  baseline: boolean,
): PreparedForward {
  const o = resolveOptions(options);
  expectLength('x_TD', x_TD, o.tokens * o.width);
  checkWeights(weights, o);
  const out = out_TD ?? new Float32Array(o.tokens * o.width);
  expectLength('out_TD', out, o.tokens * o.width);
  if (out.buffer === x_TD.buffer) {
    throw new SnaxError('INVALID_ARGUMENT', 'out_TD must not share memory with x_TD, because backward reads x_TD');
  }
  const finish = (raw: RawForward): MoeForwardResult => {
    const loads = Array.from(raw.tokensPerExpert);
    const stats: MoeStats = {
      tokensPerExpert: raw.tokensPerExpert,
      minLoad: Math.min(...loads),
      maxLoad: Math.max(...loads),
      meanLoad: loads.reduce((sum, load) => sum + load, 0) / loads.length,
      droppedTokens: raw.droppedTokens,
      addedTokens: raw.addedTokens,
      tokensWithoutExpert: raw.tokensWithoutExpert,
      paddingWaste: raw.paddingWaste,
      paddingWasteUnrounded: raw.paddingWasteUnrounded,
      balanceLoss: raw.balanceLoss,
      zLoss: raw.zLoss,
    };
    const context = raw.context === null ? null : new MoeContext(raw.context, x_TD, o, baseline, raw.savedBytes);
    return { out_TD: out, context, stats, memory: { savedBytes: raw.savedBytes, peakTemporaryBytes: raw.peakTemporaryBytes } };
  };
  return { args: [x_TD, weights.router_ED, weights.w1_E2ND, weights.w2_EDN, out, o], finish };
}

function prepareBackward(context: MoeContext, dout_TD: Float32Array, weights: MoeWeights, grads: MoeGrads, baseline: boolean): unknown[] {
  if (!(context instanceof MoeContext)) {
    throw new SnaxError('INVALID_ARGUMENT', `context must be a MoeContext from a forward call, got ${describeType(context)}`);
  }
  const o = context.options;
  expectLength('dout_TD', dout_TD, o.tokens * o.width);
  checkWeights(weights, o);
  checkGrads(grads, o);
  const { handle, x_TD } = context.take(baseline);
  // x_TD goes last only so that the async worker keeps it alive while it runs.
  return [handle, dout_TD, weights.router_ED, weights.w1_E2ND, weights.w2_EDN, grads.dx_TD, grads.dRouter_ED, grads.dw1_E2ND, grads.dw2_EDN, x_TD];
}

function callNative<T>(name: string, args: unknown[]): T {
  try {
    return addon()[name](...args) as T;
  } catch (error) {
    throw fromNative(error);
  }
}

async function callNativeAsync<T>(name: string, args: unknown[]): Promise<T> {
  try {
    return (await callNative<Promise<T>>(name, args)) as T;
  } catch (error) {
    throw fromNative(error);
  }
}

/**
 * Runs the MoE layer forward: out_TD (=) sum over each token's experts of
 * gate * SwiGLU expert output. Allocates out_TD when it is not given.
 * With saveForBackward (the default) the result holds a context for
 * moeBackward, which keeps a reference to x_TD: do not modify x_TD until
 * backward has run.
 */
export function moeForward(x_TD: Float32Array, weights: MoeWeights, options: MoeOptions, out_TD?: Float32Array): MoeForwardResult {
  const prepared = prepareForward(x_TD, weights, options, out_TD, false);
  return prepared.finish(callNative<RawForward>('moeForward', prepared.args));
}

/**
 * Runs backward from dout_TD: dx_TD (=), dRouter_ED, dw1_E2ND and dw2_EDN
 * (+=), including the scaled balancing and z-loss gradients. Consumes the
 * context, also when it throws.
 */
export function moeBackward(context: MoeContext, dout_TD: Float32Array, weights: MoeWeights, grads: MoeGrads): void {
  callNative<void>('moeBackward', prepareBackward(context, dout_TD, weights, grads, false));
}

/** moeForward on a worker thread, off the event loop. Do not touch the arrays until it settles. */
export async function moeForwardAsync(x_TD: Float32Array, weights: MoeWeights, options: MoeOptions, out_TD?: Float32Array): Promise<MoeForwardResult> {
  const prepared = prepareForward(x_TD, weights, options, out_TD, false);
  return prepared.finish(await callNativeAsync<RawForward>('moeForwardAsync', prepared.args));
}

/** moeBackward on a worker thread, off the event loop. Do not touch the arrays until it settles. */
export async function moeBackwardAsync(context: MoeContext, dout_TD: Float32Array, weights: MoeWeights, grads: MoeGrads): Promise<void> {
  await callNativeAsync<void>('moeBackwardAsync', prepareBackward(context, dout_TD, weights, grads, false));
}

/**
 * Runs the plain per-expert baseline: gather a copy of x, GEMM, SwiGLU,
 * GEMM, scatter-add. It takes the same options and returns the same results.
 * It ignores `strategy`, because the baseline always keeps its gathered
 * inputs, H, A and Y.
 */
export function moeBaselineForward(x_TD: Float32Array, weights: MoeWeights, options: MoeOptions, out_TD?: Float32Array): MoeForwardResult {
  const prepared = prepareForward(x_TD, weights, options, out_TD, true);
  return prepared.finish(callNative<RawForward>('moeBaselineForward', prepared.args));
}

/** Backward of moeBaselineForward, with the same contract as moeBackward. */
export function moeBaselineBackward(context: MoeContext, dout_TD: Float32Array, weights: MoeWeights, grads: MoeGrads): void {
  callNative<void>('moeBaselineBackward', prepareBackward(context, dout_TD, weights, grads, true));
}

/** moeBaselineForward on a worker thread. */
export async function moeBaselineForwardAsync(x_TD: Float32Array, weights: MoeWeights, options: MoeOptions, out_TD?: Float32Array): Promise<MoeForwardResult> {
  const prepared = prepareForward(x_TD, weights, options, out_TD, true);
  return prepared.finish(await callNativeAsync<RawForward>('moeBaselineForwardAsync', prepared.args));
}

/** moeBaselineBackward on a worker thread. */
export async function moeBaselineBackwardAsync(context: MoeContext, dout_TD: Float32Array, weights: MoeWeights, grads: MoeGrads): Promise<void> {
  await callNativeAsync<void>('moeBaselineBackwardAsync', prepareBackward(context, dout_TD, weights, grads, true));
}
