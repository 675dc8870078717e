/**
 * Training and evaluation batches: all shards of one split are read into one
 * token array, which is cut into windows of seqLen + 1 tokens (inputs plus
 * the next-token targets).
 *
 * Windows start at multiples of seqLen, so consecutive windows share one
 * token: the last target of a window is the first input of the next. The
 * sampler visits every window once per epoch in a seeded order that changes
 * each epoch; its state (epoch, position) is plain JSON for checkpoints.
 */
import { SnaxError } from '../errors.js';
import { expectInteger } from '../native/check.js';
import { joinPath, storageFor } from '../storage/storage.js';
import { seededRandom, shuffle } from './random.js';
import { checkTokens, readShard } from './shard.js';

export type Split = 'train' | 'val';

export interface Batch {
  /** B*S token ids, row-major by sequence. */
  inputs: Int32Array;
  /** B*S token ids: inputs shifted left by one. */
  targets: Int32Array;
}

export interface SamplerState {
  epoch: number;
  /** Index of the next window within this epoch's order. */
  position: number;
}

/** Returns true for shard names of a split: ending in .bin, with the split name as a whole word (train_000000.bin, fineweb_val_000001.bin). */
export function isShardOf(name: string, split: Split): boolean {
  return name.endsWith('.bin') && new RegExp(`(^|[^a-z0-9])${split}([^a-z0-9]|$)`, 'i').test(name.slice(0, -4));
}

export class TokenDataset {
  private constructor(
    readonly tokens: Uint16Array,
    /** The folder or description the tokens came from, for messages. */
    readonly source: string,
    /** The shard files read, in order. */
    readonly files: string[],
  ) {}

  get tokenCount(): number {
    return this.tokens.length;
  }

  /**
   * Reads every shard of a split from a folder (local or s3://), in name
   * order. With vocabSize, every token must be below it (SHARD_BAD_TOKEN).
   */
  static async open(dir: string, split: Split, vocabSize?: number): Promise<TokenDataset> {
    if (split !== 'train' && split !== 'val') {
      throw new SnaxError('INVALID_ARGUMENT', `split must be "train" or "val", got ${String(split)}`);
    }
    const storage = storageFor(dir);
    const names = (await storage.list(dir)).filter((name) => isShardOf(name, split)).sort();
    if (names.length === 0) {
      throw new SnaxError(
        'DATA_NOT_FOUND',
        `no ${split} shards in ${dir}: expected llm.c shard files whose names contain "${split}" and end in .bin, such as ${split}_000000.bin`,
        { fix: `create them with \`snax data prepare --input FILE --out ${dir}\`` },
      );
    }

    const files = names.map((name) => joinPath(dir, name));
    const shards: Uint16Array[] = [];
    for (const file of files) shards.push(await readShard(storage, file, vocabSize));

    let tokens: Uint16Array;
    if (shards.length === 1) {
      tokens = shards[0];
    } else {
      tokens = new Uint16Array(shards.reduce((sum, shard) => sum + shard.length, 0));
      let offset = 0;
      for (const shard of shards) {
        tokens.set(shard, offset);
        offset += shard.length;
      }
    }
    return new TokenDataset(tokens, `${dir} (${split})`, files);
  }

  /** Wraps tokens already in memory. */
  static fromTokens(tokens: Uint16Array, source = 'memory', vocabSize?: number): TokenDataset {
    if (vocabSize !== undefined) checkTokens(tokens, vocabSize, source);
    return new TokenDataset(tokens, source, []);
  }
}

/** Returns the number of whole windows of seqLen + 1 tokens; throws DATA_TOO_SHORT when there is none. */
function countWindows(dataset: TokenDataset, seqLen: number): number {
  if (dataset.tokenCount < seqLen + 1) {
    throw new SnaxError(
      'DATA_TOO_SHORT',
      `${dataset.source} has ${dataset.tokenCount} tokens, but one sequence needs seq_len + 1 = ${seqLen + 1}`,
      { fix: 'lower model.seq_len or add more data' },
    );
  }
  return Math.floor((dataset.tokenCount - 1) / seqLen);
}

/** Copies window `window` into row `row` of a batch. */
function fillRow(batch: Batch, tokens: Uint16Array, seqLen: number, row: number, window: number): void {
  const start = window * seqLen;
  const offset = row * seqLen;
  for (let s = 0; s < seqLen; s++) {
    batch.inputs[offset + s] = tokens[start + s];
    batch.targets[offset + s] = tokens[start + s + 1];
  }
}

function emptyBatch(batchSize: number, seqLen: number): Batch {
  return { inputs: new Int32Array(batchSize * seqLen), targets: new Int32Array(batchSize * seqLen) };
}

/** Draws training batches: each epoch visits every window once, in an order shuffled from the seed and the epoch number. */
export class WindowSampler {
  readonly windowCount: number;
  private epoch = 0;
  private position = 0;
  private order: Uint32Array;

  constructor(
    readonly dataset: TokenDataset,
    readonly seqLen: number,
    readonly batchSize: number,
    readonly seed: number,
  ) {
    expectInteger('seqLen', seqLen, 1);
    expectInteger('batchSize', batchSize, 1);
    expectInteger('seed', seed, 0);
    this.windowCount = countWindows(dataset, seqLen);
    this.order = this.orderOf(0);
  }

  private orderOf(epoch: number): Uint32Array {
    const order = new Uint32Array(this.windowCount);
    for (let i = 0; i < order.length; i++) order[i] = i;
    return shuffle(order, seededRandom(this.seed, epoch + 1));
  }

  /** Returns the next B sequences, moving into the next epoch (and its new order) when this one runs out. */
  nextBatch(): Batch {
    const batch = emptyBatch(this.batchSize, this.seqLen);
    for (let row = 0; row < this.batchSize; row++) {
      if (this.position === this.windowCount) {
        this.epoch++;
        this.position = 0;
        this.order = this.orderOf(this.epoch);
      }
      fillRow(batch, this.dataset.tokens, this.seqLen, row, this.order[this.position++]);
    }
    return batch;
  }

  /** Returns the position of the next batch, as plain JSON. */
  state(): SamplerState {
    return { epoch: this.epoch, position: this.position };
  }

  /** Continues from a state returned by state(), with the same data, seqLen and seed. */
  restore(state: SamplerState): void {
    const value = state as Partial<SamplerState> | null;
    if (value === null || typeof value !== 'object') {
      throw new SnaxError('INVALID_ARGUMENT', `sampler state must be an object {epoch, position}, got ${JSON.stringify(state)}`);
    }
    expectInteger('sampler state epoch', value.epoch, 0);
    expectInteger('sampler state position', value.position, 0, this.windowCount);
    if (value.epoch !== this.epoch) this.order = this.orderOf(value.epoch!);
    this.epoch = value.epoch!;
    this.position = value.position!;
  }
}

/**
 * Returns `count` deterministic batches for evaluation: windows in order
 * from the start of the split, wrapping to the start when the split is short.
 */
export function evalBatches(dataset: TokenDataset, seqLen: number, batchSize: number, count: number): Batch[] {
  expectInteger('seqLen', seqLen, 1);
  expectInteger('batchSize', batchSize, 1);
  expectInteger('count', count, 0);
  const windowCount = countWindows(dataset, seqLen);
  const batches: Batch[] = [];
  let window = 0;
  for (let b = 0; b < count; b++) {
    const batch = emptyBatch(batchSize, seqLen);
    for (let row = 0; row < batchSize; row++) {
      fillRow(batch, dataset.tokens, seqLen, row, window);
      window = (window + 1) % windowCount;
    }
    batches.push(batch);
  }
  return batches;
}
