/**
 * Model size from a recipe: parameter counts, training FLOPs per token and
 * the MoE activation memory that each recompute strategy keeps for backward.
 * All counts are exact for the parameter layout below; FLOPs and activation
 * bytes are the usual estimates, stated at each formula.
 *
 * Shape letters: V vocabulary, D width, L layers, S sequence length,
 * E experts, K active experts, N expert width, F dense FFN width,
 * T tokens in a micro-batch.
 *
 * Parameter layout, in order: wte V x D. Per layer: attn_norm D, qkv 3D x D,
 * proj D x D, ffn_norm D, then an MoE FFN (router E x D, w1 E x 2N x D,
 * w2 E x D x N). Layer 0 has a dense SwiGLU FFN instead (w1 2F x D,
 * w2 D x F) when model.dense_first_layer is set. Last: final norm D and
 * lm_head V x D, which is not tied to wte.
 */
import type { Recipe, RecomputeStrategy } from './types.js';

export const RECOMPUTE_STRATEGIES: readonly RecomputeStrategy[] = ['snax', 'cache-all', 'full'];

/** MoE activation memory kept for backward by one recompute strategy, in bytes (fp32). */
export interface ActivationMemory {
  bytesPerToken: number; // per token and MoE layer
  bytesPerLayer: number; // one MoE layer, one micro-batch
  bytesTotal: number; // all MoE layers, one micro-batch
}

export interface ModelSize {
  totalParams: number;
  /** Parameters that one token uses: everything except the E - K experts it is not routed to. */
  activeParams: number;
  /** Active parameters that take part in a matmul (active parameters less wte and the norms). */
  matmulParamsPerToken: number;
  /** Training (forward + backward) FLOPs per token. */
  flopsPerToken: number;
  moeLayers: number;
  denseLayers: number;
  tokensPerMicroBatch: number; // T = batch_size * seq_len
  tokensPerStep: number; // T * grad_accum
  activation: Record<RecomputeStrategy, ActivationMemory>;
}

/** Computes parameter counts, FLOPs per token and per-strategy MoE activation memory of a resolved recipe. */
export function describeModel(recipe: Recipe): ModelSize {
  const { vocab_size: V, width: D, layers: L, seq_len: S, dense_first_layer, dense_width: F } = recipe.model;
  const { experts: E, active: K, expert_width: N } = recipe.moe;

  const denseLayers = dense_first_layer ? 1 : 0;
  const moeLayers = L - denseLayers;

  const embedding = V * D;
  const lmHead = V * D;
  const norms = 2 * D * L + D;
  const attention = 4 * D * D * L; // qkv 3D x D and proj D x D
  const router = E * D;
  const expert = 3 * N * D; // w1 2N x D and w2 D x N
  const denseFfn = 3 * F * D; // w1 2F x D and w2 D x F

  const totalParams = embedding + lmHead + norms + attention + moeLayers * (router + E * expert) + denseLayers * denseFfn;
  const activeParams = totalParams - moeLayers * (E - K) * expert;
  const matmulParamsPerToken = activeParams - embedding - norms;

  // Each matmul parameter costs 6 FLOPs per token (2 forward, 4 backward).
  // Attention scores and values add 2 matmuls of 2*S*D FLOPs per token and
  // layer in forward, 3x that with backward, halved by the causal mask:
  // 12 * L * S * D / 2.
  const flopsPerToken = 6 * matmulParamsPerToken + (12 * L * S * D) / 2;

  const T = recipe.train.batch_size * S;
  // fp32 bytes per token kept by each strategy: x (4D), H (2N per pair, 8KN),
  // A (N per pair, 4KN), Y (D per pair, 4KD), and scores plus indices with
  // their grouping metadata (about 20 bytes per pair, 20K).
  // NOTE: with token rounding a token may have more or fewer than K experts, so these are estimates at K pairs per token.
  const perToken: Record<RecomputeStrategy, number> = {
    snax: 4 * D + 8 * K * N + 20 * K,
    'cache-all': 4 * D + 12 * K * N + 4 * K * D + 20 * K,
    full: 4 * D + 20 * K,
  };
  const activation = {} as Record<RecomputeStrategy, ActivationMemory>;
  for (const strategy of RECOMPUTE_STRATEGIES) {
    const bytesPerLayer = perToken[strategy] * T;
    activation[strategy] = { bytesPerToken: perToken[strategy], bytesPerLayer, bytesTotal: bytesPerLayer * moeLayers };
  }

  return {
    totalParams,
    activeParams,
    matmulParamsPerToken,
    flopsPerToken,
    moeLayers,
    denseLayers,
    tokensPerMicroBatch: T,
    tokensPerStep: T * recipe.train.grad_accum,
    activation,
  };
}
