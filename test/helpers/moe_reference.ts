/**
 * A plain float64 reference for the MoE layer, forward and backward, written
 * pair by pair with no shared code with the native kernels. Its own
 * gradients are checked by finite differences in moe_reference.test.ts.
 *
 * Shapes: T tokens, D width, E experts, K experts per token, N expert width.
 * w1 rows are interleaved (row 2j gate j, row 2j+1 up j).
 */

export interface ReferenceOptions {
  tokens: number;
  width: number;
  experts: number;
  topK: number;
  expertWidth: number;
  gate: 'renormalize' | 'softmax';
  rounding: 'none' | 'up' | 'down' | 'nearest';
  tile: number;
  balanceLoss: number;
  zLoss: number;
}

export interface ReferenceWeights {
  router_ED: ArrayLike<number>;
  w1_E2ND: ArrayLike<number>;
  w2_EDN: ArrayLike<number>;
}

interface Pair {
  token: number;
  expert: number;
  slot: number; // k for a token-choice pair, -1 for a pair added by rounding
  gate: number;
}

export interface ReferenceForward {
  out: Float64Array;
  pairs: Pair[];
  tokensPerExpert: number[];
  droppedTokens: number;
  addedTokens: number;
  tokensWithoutExpert: number;
  paddingWaste: number;
  paddingWasteUnrounded: number;
  balanceLoss: number;
  zLoss: number;
  /** sum(out * dout) + balanceLoss coefficient * balance + zLoss coefficient * z, when dout is given. */
  loss: number;
}

export interface ReferenceGrads {
  dx: Float64Array;
  dRouter: Float64Array;
  dw1: Float64Array;
  dw2: Float64Array;
}

const silu = (v: number): number => v / (1 + Math.exp(-v));
const sigmoid = (v: number): number => 1 / (1 + Math.exp(-v));

function roundingTarget(policy: ReferenceOptions['rounding'], f: number, tile: number): number {
  const quotient = Math.floor(f / tile);
  const remainder = f - quotient * tile;
  if (policy === 'none') return f;
  if (policy === 'up') return Math.ceil(f / tile) * tile;
  if (policy === 'down') return quotient * tile;
  const up = 2 * remainder > tile || (2 * remainder === tile && quotient % 2 === 1);
  return (up ? quotient + 1 : quotient) * tile;
}

function paddingWaste(counts: number[], tile: number): number {
  const total = counts.reduce((a, b) => a + b, 0);
  const padded = counts.reduce((a, f) => a + Math.ceil(f / tile) * tile, 0);
  return total === 0 ? 0 : padded / total - 1;
}

interface Routed {
  logits: Float64Array;
  probs: Float64Array;
  lse: Float64Array;
  chosen: number[][]; // [t][k] expert
  renormalized: number[][]; // [t][k]
}

function route(x: ArrayLike<number>, w: ReferenceWeights, o: ReferenceOptions): Routed {
  const { tokens: T, width: D, experts: E, topK: K } = o;
  const logits = new Float64Array(T * E);
  const probs = new Float64Array(T * E);
  const lse = new Float64Array(T);
  const chosen: number[][] = [];
  const renormalized: number[][] = [];
  for (let t = 0; t < T; t++) {
    for (let e = 0; e < E; e++) {
      let sum = 0;
      for (let d = 0; d < D; d++) sum += x[t * D + d] * w.router_ED[e * D + d];
      logits[t * E + e] = sum;
    }
    const row = Array.from(logits.subarray(t * E, (t + 1) * E));
    const max = Math.max(...row);
    const total = row.reduce((a, l) => a + Math.exp(l - max), 0);
    for (let e = 0; e < E; e++) probs[t * E + e] = Math.exp(row[e] - max) / total;
    lse[t] = max + Math.log(total);
    const order = row.map((_, e) => e).sort((a, b) => (row[b] !== row[a] ? row[b] - row[a] : a - b));
    const top = order.slice(0, K);
    const topMax = row[top[0]];
    const topTotal = top.reduce((a, e) => a + Math.exp(row[e] - topMax), 0);
    chosen.push(top);
    renormalized.push(top.map((e) => Math.exp(row[e] - topMax) / topTotal));
  }
  return { logits, probs, lse, chosen, renormalized };
}

/** Runs the reference forward; with dout it also returns the scalar loss used by the finite-difference check. */
export function referenceForward(x: ArrayLike<number>, w: ReferenceWeights, o: ReferenceOptions, dout?: ArrayLike<number>): ReferenceForward & { routed: Routed } {
  const { tokens: T, width: D, experts: E, topK: K, expertWidth: N } = o;
  const routed = route(x, w, o);
  const { probs, lse, chosen, renormalized } = routed;

  // Token rounding: rank token-choice tokens by renormalised score, then the
  // others by full-softmax probability, ties to the lower token index.
  const pairs: Pair[] = [];
  const topkCounts: number[] = [];
  const finalCounts: number[] = [];
  let droppedTokens = 0;
  let addedTokens = 0;
  for (let e = 0; e < E; e++) {
    const choice: Array<{ token: number; slot: number; key: number }> = [];
    for (let t = 0; t < T; t++) {
      const slot = chosen[t].indexOf(e);
      if (slot >= 0) choice.push({ token: t, slot, key: renormalized[t][slot] });
    }
    const others: Array<{ token: number; slot: number; key: number }> = [];
    for (let t = 0; t < T; t++) if (!chosen[t].includes(e)) others.push({ token: t, slot: -1, key: probs[t * E + e] });
    const byRank = (a: { token: number; key: number }, b: { token: number; key: number }) => (a.key !== b.key ? b.key - a.key : a.token - b.token);
    choice.sort(byRank);
    others.sort(byRank);
    const ranking = [...choice, ...others];
    const target = Math.min(roundingTarget(o.rounding, choice.length, o.tile), T);
    const kept = ranking.slice(0, target);
    droppedTokens += Math.max(0, choice.length - target);
    addedTokens += Math.max(0, target - choice.length);
    topkCounts.push(choice.length);
    finalCounts.push(kept.length);
    for (const item of kept) {
      const gate = item.slot >= 0 && o.gate === 'renormalize' ? renormalized[item.token][item.slot] : probs[item.token * E + e];
      pairs.push({ token: item.token, expert: e, slot: item.slot, gate });
    }
  }

  const out = new Float64Array(T * D);
  const covered = new Set<number>();
  for (const pair of pairs) {
    covered.add(pair.token);
    const { a } = expertActivations(x, w, o, pair);
    for (let d = 0; d < D; d++) {
      let y = 0;
      for (let j = 0; j < N; j++) y += w.w2_EDN[(pair.expert * D + d) * N + j] * a[j];
      out[pair.token * D + d] += pair.gate * y;
    }
  }

  let balanceLoss = 0;
  for (let e = 0; e < E; e++) {
    let meanP = 0;
    for (let t = 0; t < T; t++) meanP += probs[t * E + e] / T;
    balanceLoss += meanP * (finalCounts[e] / (T * K));
  }
  balanceLoss *= E;
  const zLoss = Array.from(lse).reduce((a, v) => a + v * v, 0) / T;

  let loss = o.balanceLoss * balanceLoss + o.zLoss * zLoss;
  if (dout) for (let i = 0; i < T * D; i++) loss += out[i] * dout[i];

  return {
    out,
    pairs,
    tokensPerExpert: finalCounts,
    droppedTokens,
    addedTokens,
    tokensWithoutExpert: T - covered.size,
    paddingWaste: paddingWaste(finalCounts, o.tile),
    paddingWasteUnrounded: paddingWaste(topkCounts, o.tile),
    balanceLoss,
    zLoss,
    loss,
    routed,
  };
}

function expertActivations(x: ArrayLike<number>, w: ReferenceWeights, o: ReferenceOptions, pair: Pair): { h: Float64Array; a: Float64Array } {
  const { width: D, expertWidth: N } = o;
  const h = new Float64Array(2 * N);
  for (let r = 0; r < 2 * N; r++) {
    let sum = 0;
    for (let d = 0; d < D; d++) sum += w.w1_E2ND[(pair.expert * 2 * N + r) * D + d] * x[pair.token * D + d];
    h[r] = sum;
  }
  const a = new Float64Array(N);
  for (let j = 0; j < N; j++) a[j] = silu(h[2 * j]) * h[2 * j + 1];
  return { h, a };
}

/** Forward and the gradients of referenceForward's loss with respect to x and every weight. */
export function referenceMoe(x: ArrayLike<number>, w: ReferenceWeights, o: ReferenceOptions, dout: ArrayLike<number>): ReferenceForward & ReferenceGrads {
  const { tokens: T, width: D, experts: E, topK: K, expertWidth: N } = o;
  const forward = referenceForward(x, w, o, dout);
  const { probs, lse, chosen, renormalized } = forward.routed;
  const dx = new Float64Array(T * D);
  const dRouter = new Float64Array(E * D);
  const dw1 = new Float64Array(E * 2 * N * D);
  const dw2 = new Float64Array(E * D * N);

  // Experts: dS = <dout_t, y>, then the SwiGLU MLP backward scaled by the gate.
  const dScore = new Map<Pair, number>();
  for (const pair of forward.pairs) {
    const { token: t, expert: e, gate } = pair;
    const { h, a } = expertActivations(x, w, o, pair);
    let ds = 0;
    const da = new Float64Array(N);
    for (let d = 0; d < D; d++) {
      const g = dout[t * D + d];
      let y = 0;
      for (let j = 0; j < N; j++) {
        y += w.w2_EDN[(e * D + d) * N + j] * a[j];
        dw2[(e * D + d) * N + j] += gate * g * a[j];
        da[j] += gate * g * w.w2_EDN[(e * D + d) * N + j];
      }
      ds += g * y;
    }
    dScore.set(pair, ds);
    const dh = new Float64Array(2 * N);
    for (let j = 0; j < N; j++) {
      const gateValue = h[2 * j];
      const up = h[2 * j + 1];
      const s = sigmoid(gateValue);
      dh[2 * j] = da[j] * up * s * (1 + gateValue * (1 - s));
      dh[2 * j + 1] = da[j] * silu(gateValue);
    }
    for (let r = 0; r < 2 * N; r++)
      for (let d = 0; d < D; d++) {
        dw1[(e * 2 * N + r) * D + d] += dh[r] * x[t * D + d];
        dx[t * D + d] += dh[r] * w.w1_E2ND[(e * 2 * N + r) * D + d];
      }
  }

  // Router: K-softmax for token-choice pairs under 'renormalize', full
  // softmax for the rest, plus the auxiliary losses (no gradient through counts).
  for (let t = 0; t < T; t++) {
    const dl = new Float64Array(E);
    const tokenPairs = forward.pairs.filter((pair) => pair.token === t);
    if (o.gate === 'renormalize') {
      const g = new Float64Array(K);
      for (const pair of tokenPairs) if (pair.slot >= 0) g[pair.slot] = dScore.get(pair) ?? 0;
      let weighted = 0;
      for (let k = 0; k < K; k++) weighted += renormalized[t][k] * g[k];
      for (let k = 0; k < K; k++) dl[chosen[t][k]] += renormalized[t][k] * (g[k] - weighted);
    }
    const hFull = new Float64Array(E);
    for (let e = 0; e < E; e++) hFull[e] = (o.balanceLoss * E * forward.tokensPerExpert[e]) / (T * K) / T;
    for (const pair of tokenPairs) if (o.gate === 'softmax' || pair.slot < 0) hFull[pair.expert] += dScore.get(pair) ?? 0;
    let weighted = 0;
    for (let e = 0; e < E; e++) weighted += probs[t * E + e] * hFull[e];
    for (let e = 0; e < E; e++) dl[e] += probs[t * E + e] * (hFull[e] - weighted) + (o.zLoss * 2 * lse[t] * probs[t * E + e]) / T;
    for (let e = 0; e < E; e++)
      for (let d = 0; d < D; d++) {
        dRouter[e * D + d] += dl[e] * x[t * D + d];
        dx[t * D + d] += dl[e] * w.router_ED[e * D + d];
      }
  }
  return { ...forward, dx, dRouter, dw1, dw2 };
}
