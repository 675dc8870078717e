/**
 * The one table of recipe defaults. The loader fills every key that a recipe
 * leaves out from here; schemas/recipe.schema.json documents the same values
 * (a test keeps the two equal). Defaults that depend on other keys are
 * computed by the functions below the table.
 */
import type { TokenizerName } from './types.js';

export const RECIPE_DEFAULTS = {
  model: {
    rope_theta: 10000,
    norm_eps: 1e-5,
    init_std: 0.02,
    dense_first_layer: false,
  },
  moe: {
    gate: 'renormalize',
    balance_loss: 0.01,
    z_loss: 0.001,
    rounding: 'none',
    tile: 0,
    recompute: 'snax',
  },
  data: {
    tokenizer: 'byte',
  },
  'data.prepare': {
    val_fraction: 0.05,
  },
  optim: {
    lr: 3e-4,
    beta1: 0.9,
    beta2: 0.95,
    eps: 1e-8,
    weight_decay: 0.1,
    grad_clip: 1,
  },
  schedule: {
    kind: 'cosine',
    warmup_steps: 0,
    min_lr_ratio: 0.1,
    decay_fraction: 0.2,
  },
  train: {
    grad_accum: 1,
    seed: 0,
  },
  eval: {
    every: 100,
    batches: 20,
  },
  checkpoint: {
    every: 0,
    keep: 2,
  },
  log: {
    every: 1,
  },
} as const;

/** Section names of RECIPE_DEFAULTS, as dotted key paths. */
export type DefaultedSection = keyof typeof RECIPE_DEFAULTS;

/** Vocabulary size of each tokenizer, the default of model.vocab_size. */
export const TOKENIZER_VOCAB: Record<TokenizerName, number> = {
  byte: 256,
  gpt2: 50257,
};

/** Default run name: the recipe file name without folder and extension. */
export function defaultName(sourceName: string): string {
  const base = sourceName.split(/[\\/]/).pop() ?? sourceName;
  const stem = base.replace(/\.(ya?ml|json)$/i, '');
  return stem.length > 0 ? stem : 'run';
}

/** Default run folder for a run name. */
export function defaultOutput(name: string): string {
  return `runs/${name}`;
}

/** Optimizer steps that cover `tokens` training tokens, rounded up to a whole step. */
export function stepsForTokens(tokens: number, batchSize: number, gradAccum: number, seqLen: number): number {
  return Math.ceil(tokens / (batchSize * gradAccum * seqLen));
}
