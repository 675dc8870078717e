/**
 * The SNaX decoder-only transformer: token embedding, then per layer a
 * pre-norm causal attention block with RoPE and a pre-norm feed-forward
 * block (the SNaX MoE layer, or a dense SwiGLU in layer 0 when the recipe
 * sets dense_first_layer), then a final RMSNorm, an untied LM head and cross-entropy.
 *
 * Shape letters: B sequences, S sequence length, T = B*S tokens, D width,
 * H heads, V vocabulary, F dense FFN width. Every op runs in native code;
 * this file only slices buffers and calls kernels. Backward is the same list
 * of calls in reverse, with d-prefixed names.
 *
 * Saved for backward, per layer (the table `layerBufferSizes` sizes them):
 *   x_TD residual input, a_TD attention-norm output, rstd1_T, qkv_T3D,
 *   qkvRot_T3D (roped q, k and v), probs_BHSS, att_TD, h_TD residual after
 *   attention, f_TD ffn-norm output, rstd2_T, and the MoE context (what the
 *   recipe's recompute strategy keeps, counted by the native allocator) or,
 *   for a dense layer, hd_T2F and act_TF.
 * What this model leaves out: dropout, biases, tied embeddings and KV caches.
 */
import type { Recipe } from '../recipe/types.js';
import * as ops from '../native/ops.js';
import { moeBackward, moeForward, type MoeContext, type MoeOptions, type MoeStats } from '../native/moe.js';
import { isDenseLayer, ParamStore } from './params.js';

interface LayerBuffers {
  x_TD: Float32Array;
  a_TD: Float32Array;
  rstd1_T: Float32Array;
  qkv_T3D: Float32Array;
  qkvRot_T3D: Float32Array;
  probs_BHSS: Float32Array;
  att_TD: Float32Array;
  h_TD: Float32Array;
  f_TD: Float32Array;
  rstd2_T: Float32Array;
  ffn_TD: Float32Array;
  hd_T2F: Float32Array | null;
  act_TF: Float32Array | null;
  moe: MoeContext | null;
}

/** Aggregated MoE routing figures of one forward pass, summed or averaged over MoE layers. */
export interface MoeSummary {
  layers: number;
  minLoad: number;
  maxLoad: number;
  meanLoad: number;
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

export interface ForwardResult {
  /** Mean cross-entropy over the T tokens, in nats. */
  loss: number;
  moe: MoeSummary;
  /** Bytes kept for backward: the dense buffers here plus what the MoE layers saved. */
  activationBytes: number;
}

/** Element counts of the per-layer buffers kept for backward, for B sequences. */
export function layerBufferSizes(recipe: Recipe, batch: number, dense: boolean): Record<string, number> {
  const { width: D, heads: H, seq_len: S } = recipe.model;
  const T = batch * S;
  const F = recipe.model.dense_width;
  const sizes: Record<string, number> = {
    x_TD: T * D,
    a_TD: T * D,
    rstd1_T: T,
    qkv_T3D: 3 * T * D,
    qkvRot_T3D: 3 * T * D,
    probs_BHSS: batch * H * S * S,
    att_TD: T * D,
    h_TD: T * D,
    f_TD: T * D,
    rstd2_T: T,
    ffn_TD: T * D,
  };
  if (dense) {
    sizes.hd_T2F = 2 * T * F;
    sizes.act_TF = T * F;
  }
  return sizes;
}

export class Transformer {
  readonly recipe: Recipe;
  readonly params: ParamStore;
  readonly batch: number;
  readonly tokens: number;
  private readonly layers: LayerBuffers[] = [];
  private readonly xFinal_TD: Float32Array;
  private readonly xNormed_TD: Float32Array;
  private readonly rstdFinal_T: Float32Array;
  private readonly logits_TV: Float32Array;
  private readonly losses_T: Float32Array;
  private readonly dlogits_TV: Float32Array;
  private readonly dx_TD: Float32Array;
  private readonly dh_TD: Float32Array;
  private readonly dtmp_TD: Float32Array;
  private readonly dqkv_T3D: Float32Array;
  private readonly dhd_T2F: Float32Array | null;
  private readonly dact_TF: Float32Array | null;
  private denseBytes = 0;
  private inputTokens: Int32Array = new Int32Array(0);

  constructor(recipe: Recipe, params: ParamStore, batch: number) {
    this.recipe = recipe;
    this.params = params;
    this.batch = batch;
    const { width: D, vocab_size: V, seq_len: S } = recipe.model;
    const T = batch * S;
    this.tokens = T;
    for (let layer = 0; layer < recipe.model.layers; layer++) {
      const dense = isDenseLayer(recipe, layer);
      const sizes = layerBufferSizes(recipe, batch, dense);
      for (const size of Object.values(sizes)) this.denseBytes += 4 * size;
      this.layers.push({
        x_TD: new Float32Array(sizes.x_TD),
        a_TD: new Float32Array(sizes.a_TD),
        rstd1_T: new Float32Array(sizes.rstd1_T),
        qkv_T3D: new Float32Array(sizes.qkv_T3D),
        qkvRot_T3D: new Float32Array(sizes.qkvRot_T3D),
        probs_BHSS: new Float32Array(sizes.probs_BHSS),
        att_TD: new Float32Array(sizes.att_TD),
        h_TD: new Float32Array(sizes.h_TD),
        f_TD: new Float32Array(sizes.f_TD),
        rstd2_T: new Float32Array(sizes.rstd2_T),
        ffn_TD: new Float32Array(sizes.ffn_TD),
        hd_T2F: dense ? new Float32Array(sizes.hd_T2F) : null,
        act_TF: dense ? new Float32Array(sizes.act_TF) : null,
        moe: null,
      });
    }
    this.xFinal_TD = new Float32Array(T * D);
    this.xNormed_TD = new Float32Array(T * D);
    this.rstdFinal_T = new Float32Array(T);
    this.logits_TV = new Float32Array(T * V);
    this.losses_T = new Float32Array(T);
    this.dlogits_TV = new Float32Array(T * V);
    this.denseBytes += 4 * (3 * T * D + T + T * V);
    this.dx_TD = new Float32Array(T * D);
    this.dh_TD = new Float32Array(T * D);
    this.dtmp_TD = new Float32Array(T * D);
    this.dqkv_T3D = new Float32Array(3 * T * D);
    const hasDense = recipe.model.dense_first_layer;
    const F = recipe.model.dense_width;
    this.dhd_T2F = hasDense ? new Float32Array(2 * T * F) : null;
    this.dact_TF = hasDense ? new Float32Array(T * F) : null;
  }

  private moeOptions(training: boolean, gradAccum: number): MoeOptions {
    const { moe } = this.recipe;
    return {
      tokens: this.tokens,
      width: this.recipe.model.width,
      experts: moe.experts,
      topK: moe.active,
      expertWidth: moe.expert_width,
      gate: moe.gate,
      rounding: moe.rounding,
      tile: moe.tile > 0 ? moe.tile : undefined,
      strategy: moe.recompute,
      // The auxiliary gradients are averaged over micro-batches like the loss.
      balanceLoss: moe.balance_loss / gradAccum,
      zLoss: moe.z_loss / gradAccum,
      saveForBackward: training,
    };
  }

  /**
   * Runs the model on B sequences. With `training`, keeps what backward
   * needs and fills dlogits scaled by 1/(T * gradAccum), so that backward()
   * accumulates the gradient of the mean loss over the step's micro-batches.
   */
  forward(inputs: Int32Array, targets: Int32Array, training: boolean, gradAccum = 1): ForwardResult {
    const { recipe, params } = this;
    const { width: D, heads: H, seq_len: S, vocab_size: V, norm_eps: eps, rope_theta: theta } = recipe.model;
    const B = this.batch;
    const T = this.tokens;
    this.inputTokens = inputs;
    const summary = emptySummary();

    ops.embeddingForward(this.layers.length > 0 ? this.layers[0].x_TD : this.xFinal_TD, inputs, params.value('wte'), T, D, V);
    for (let layer = 0; layer < this.layers.length; layer++) {
      const buffers = this.layers[layer];
      const prefix = `layers.${layer}.`;
      const next_TD = layer + 1 < this.layers.length ? this.layers[layer + 1].x_TD : this.xFinal_TD;

      // attention block: h = x + proj(attention(rope(qkv(norm(x)))))
      ops.rmsnormForward(buffers.a_TD, buffers.rstd1_T, buffers.x_TD, params.value(prefix + 'attn_norm'), T, D, eps);
      ops.linearForward(buffers.qkv_T3D, buffers.a_TD, params.value(prefix + 'qkv'), T, D, 3 * D);
      ops.attentionForward(buffers.att_TD, buffers.qkvRot_T3D, buffers.probs_BHSS, buffers.qkv_T3D, B, S, D, H, theta);
      ops.linearForward(buffers.h_TD, buffers.att_TD, params.value(prefix + 'proj'), T, D, D);
      ops.addInPlace(buffers.h_TD, buffers.x_TD);

      // feed-forward block: x' = h + ffn(norm(h))
      ops.rmsnormForward(buffers.f_TD, buffers.rstd2_T, buffers.h_TD, params.value(prefix + 'ffn_norm'), T, D, eps);
      if (buffers.hd_T2F && buffers.act_TF) {
        const F = recipe.model.dense_width;
        ops.linearForward(buffers.hd_T2F, buffers.f_TD, params.value(prefix + 'w1'), T, D, 2 * F);
        ops.swigluForward(buffers.act_TF, buffers.hd_T2F, T, F);
        ops.linearForward(buffers.ffn_TD, buffers.act_TF, params.value(prefix + 'w2'), T, F, D);
      } else {
        buffers.moe?.release();
        const result = moeForward(
          buffers.f_TD,
          { router_ED: params.value(prefix + 'router'), w1_E2ND: params.value(prefix + 'w1'), w2_EDN: params.value(prefix + 'w2') },
          this.moeOptions(training, gradAccum),
          buffers.ffn_TD,
        );
        buffers.moe = result.context;
        addToSummary(summary, result.stats, result.memory.savedBytes, result.memory.peakTemporaryBytes);
      }
      next_TD.set(buffers.h_TD);
      ops.addInPlace(next_TD, buffers.ffn_TD);
    }

    // head: final norm, logits, cross-entropy (and its gradient when training)
    ops.rmsnormForward(this.xNormed_TD, this.rstdFinal_T, this.xFinal_TD, params.value('final_norm'), T, D, eps);
    ops.linearForward(this.logits_TV, this.xNormed_TD, params.value('lm_head'), T, D, V);
    const lossSum = ops.crossEntropy(this.losses_T, training ? this.dlogits_TV : null, this.logits_TV, targets, T, V, 1 / (T * gradAccum));
    finishSummary(summary);
    return { loss: lossSum / T, moe: summary, activationBytes: this.denseBytes + summary.savedBytes };
  }

  /** Accumulates (+=) the gradients of the last training forward() into params.grads. */
  backward(): void {
    const { recipe, params } = this;
    const { width: D, heads: H, seq_len: S, vocab_size: V, rope_theta: theta } = recipe.model;
    const B = this.batch;
    const T = this.tokens;
    const { dx_TD, dh_TD, dtmp_TD, dqkv_T3D } = this;

    // head
    ops.linearBackward(dtmp_TD, params.grad('lm_head'), this.dlogits_TV, this.xNormed_TD, params.value('lm_head'), T, D, V);
    dx_TD.fill(0);
    ops.rmsnormBackward(dx_TD, params.grad('final_norm'), dtmp_TD, this.xFinal_TD, this.rstdFinal_T, params.value('final_norm'), T, D);

    for (let layer = this.layers.length - 1; layer >= 0; layer--) {
      const buffers = this.layers[layer];
      const prefix = `layers.${layer}.`;

      // feed-forward block: dh = dx' + norm'(ffn'(dx'))
      dh_TD.set(dx_TD);
      if (buffers.hd_T2F && buffers.act_TF && this.dhd_T2F && this.dact_TF) {
        const F = recipe.model.dense_width;
        ops.linearBackward(this.dact_TF, params.grad(prefix + 'w2'), dx_TD, buffers.act_TF, params.value(prefix + 'w2'), T, F, D);
        ops.swigluBackward(this.dhd_T2F, this.dact_TF, buffers.hd_T2F, T, F);
        ops.linearBackward(dtmp_TD, params.grad(prefix + 'w1'), this.dhd_T2F, buffers.f_TD, params.value(prefix + 'w1'), T, D, 2 * F);
      } else {
        const context = buffers.moe;
        if (!context) throw new Error(`layer ${layer}: backward() called without a training forward()`);
        moeBackward(
          context,
          dx_TD,
          { router_ED: params.value(prefix + 'router'), w1_E2ND: params.value(prefix + 'w1'), w2_EDN: params.value(prefix + 'w2') },
          { dx_TD: dtmp_TD, dRouter_ED: params.grad(prefix + 'router'), dw1_E2ND: params.grad(prefix + 'w1'), dw2_EDN: params.grad(prefix + 'w2') },
        );
        buffers.moe = null;
      }
      ops.rmsnormBackward(dh_TD, params.grad(prefix + 'ffn_norm'), dtmp_TD, buffers.h_TD, buffers.rstd2_T, params.value(prefix + 'ffn_norm'), T, D);

      // attention block: dx = dh + norm'(qkv'(attention'(proj'(dh))))
      dx_TD.set(dh_TD);
      ops.linearBackward(dtmp_TD, params.grad(prefix + 'proj'), dh_TD, buffers.att_TD, params.value(prefix + 'proj'), T, D, D);
      ops.attentionBackward(dqkv_T3D, dtmp_TD, buffers.qkvRot_T3D, buffers.probs_BHSS, B, S, D, H, theta);
      ops.linearBackward(dtmp_TD, params.grad(prefix + 'qkv'), dqkv_T3D, buffers.a_TD, params.value(prefix + 'qkv'), T, D, 3 * D);
      ops.rmsnormBackward(dx_TD, params.grad(prefix + 'attn_norm'), dtmp_TD, buffers.x_TD, buffers.rstd1_T, params.value(prefix + 'attn_norm'), T, D);
    }

    ops.embeddingBackward(params.grad('wte'), dx_TD, this.inputTokens, T, D, V);
  }

  /** Frees the MoE contexts of a forward() that will not be followed by backward(). */
  releaseSaved(): void {
    for (const buffers of this.layers) {
      buffers.moe?.release();
      buffers.moe = null;
    }
  }
}

function emptySummary(): MoeSummary {
  return {
    layers: 0,
    minLoad: Infinity,
    maxLoad: 0,
    meanLoad: 0,
    droppedTokens: 0,
    addedTokens: 0,
    tokensWithoutExpert: 0,
    paddingWaste: 0,
    paddingWasteUnrounded: 0,
    balanceLoss: 0,
    zLoss: 0,
    savedBytes: 0,
    peakTemporaryBytes: 0,
  };
}

function addToSummary(summary: MoeSummary, stats: MoeStats, savedBytes: number, peakBytes: number): void {
  summary.layers++;
  summary.minLoad = Math.min(summary.minLoad, stats.minLoad);
  summary.maxLoad = Math.max(summary.maxLoad, stats.maxLoad);
  summary.meanLoad += stats.meanLoad;
  summary.droppedTokens += stats.droppedTokens;
  summary.addedTokens += stats.addedTokens;
  summary.tokensWithoutExpert += stats.tokensWithoutExpert;
  summary.paddingWaste += stats.paddingWaste;
  summary.paddingWasteUnrounded += stats.paddingWasteUnrounded;
  summary.balanceLoss += stats.balanceLoss;
  summary.zLoss += stats.zLoss;
  summary.savedBytes += savedBytes;
  summary.peakTemporaryBytes = Math.max(summary.peakTemporaryBytes, peakBytes);
}

/** Turns the sums of per-layer means into means over layers; counts stay summed. */
function finishSummary(summary: MoeSummary): void {
  if (summary.layers === 0) {
    summary.minLoad = 0;
    return;
  }
  summary.meanLoad /= summary.layers;
  summary.paddingWaste /= summary.layers;
  summary.paddingWasteUnrounded /= summary.layers;
  summary.balanceLoss /= summary.layers;
  summary.zLoss /= summary.layers;
}
