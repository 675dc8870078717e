/**
 * An estimate of the memory a training run allocates, checked before any
 * allocation so that an oversized recipe fails with a message that names the
 * keys to change instead of a bare allocation error halfway through start-up.
 *
 * Counted: weights, gradients and the two AdamW moments (16 bytes per
 * parameter), the transformer's saved and scratch buffers (from
 * layerBufferSizes), and the MoE cache of the recipe's recompute strategy.
 * NOTE: the MoE layer's temporaries and the data shards are not counted,
 * while backward scratch buffers are, so this is an estimate, not a bound.
 */
import { totalmem } from 'node:os';
import { SnaxError } from '../errors.js';
import { describeModel } from '../recipe/size.js';
import type { Recipe } from '../recipe/types.js';
import { isDenseLayer } from './params.js';
import { layerBufferSizes } from './transformer.js';

/** The largest Float32Array this Node.js build allocates (V8 limits typed arrays to 2^32 - 1 elements). */
const MAX_ARRAY_ELEMENTS = 2 ** 32 - 1;

export interface MemoryEstimate {
  parameterBytes: number;
  activationBytes: number;
  totalBytes: number;
  largestBuffer: { name: string; elements: number };
}

/** Estimates the bytes a training run of `recipe` allocates at start-up. */
export function estimateTrainingMemory(recipe: Recipe): MemoryEstimate {
  const size = describeModel(recipe);
  const { width: D, vocab_size: V, seq_len: S, layers: L } = recipe.model;
  const B = recipe.train.batch_size;
  const T = B * S;
  let activationElements = 0;
  let largestBuffer = { name: 'wte', elements: V * D };
  for (let layer = 0; layer < L; layer++) {
    for (const [name, elements] of Object.entries(layerBufferSizes(recipe, B, isDenseLayer(recipe, layer)))) {
      activationElements += elements;
      if (elements > largestBuffer.elements) largestBuffer = { name, elements };
    }
  }
  // Head buffers (logits and their gradient) and backward scratch.
  activationElements += 2 * T * V + 8 * T * D;
  if (T * V > largestBuffer.elements) largestBuffer = { name: 'logits_TV', elements: T * V };
  const moeBytes = size.activation[recipe.moe.recompute].bytesTotal;
  const parameterBytes = 16 * size.totalParams;
  const activationBytes = 4 * activationElements + moeBytes;
  return { parameterBytes, activationBytes, totalBytes: parameterBytes + activationBytes, largestBuffer };
}

/**
 * Throws MEMORY_TOO_LARGE when the estimate exceeds 90% of this machine's
 * memory or one buffer exceeds what a typed array can hold.
 */
export function checkTrainingMemory(recipe: Recipe, available = totalmem()): MemoryEstimate {
  const estimate = estimateTrainingMemory(recipe);
  const gib = (bytes: number): string => (bytes / 1024 ** 3).toFixed(1) + ' GiB';
  const { model, moe, train } = recipe;
  const activationKeys = `train.batch_size=${train.batch_size}, model.seq_len=${model.seq_len}, model.width=${model.width}, model.layers=${model.layers}`;
  const parameterKeys =
    `model.vocab_size=${model.vocab_size}, model.width=${model.width}, model.layers=${model.layers}, ` +
    `moe.experts=${moe.experts}, moe.expert_width=${moe.expert_width}`;
  const keys = estimate.parameterBytes >= estimate.activationBytes ? parameterKeys : activationKeys;
  if (estimate.largestBuffer.elements > MAX_ARRAY_ELEMENTS) {
    throw new SnaxError('MEMORY_TOO_LARGE', `buffer ${estimate.largestBuffer.name} would need ${estimate.largestBuffer.elements} elements, more than the ${MAX_ARRAY_ELEMENTS} one array can hold (${keys})`, {
      fix: 'lower train.batch_size or model.seq_len (and raise train.grad_accum to keep the tokens per step), or lower model.width',
    });
  }
  if (estimate.totalBytes > 0.9 * available) {
    throw new SnaxError(
      'MEMORY_TOO_LARGE',
      `the run needs about ${gib(estimate.totalBytes)} (${gib(estimate.parameterBytes)} for weights, gradients and AdamW state, ` +
        `${gib(estimate.activationBytes)} for activations) but this machine has ${gib(available)} (${keys})`,
      {
        fix:
          estimate.parameterBytes >= estimate.activationBytes
            ? 'most of it is parameters: lower moe.experts, moe.expert_width, model.width, model.layers or model.vocab_size'
            : 'most of it is activations: lower train.batch_size (raise train.grad_accum to keep the tokens per step), model.seq_len or model.width',
      },
    );
  }
  return estimate;
}
