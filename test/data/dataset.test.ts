import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TokenDataset, WindowSampler, evalBatches, isShardOf, type Batch } from '../../src/data/dataset.js';
import { writeShard } from '../../src/data/shard.js';
import { storageFor } from '../../src/storage/storage.js';

const root = mkdtempSync(join(tmpdir(), 'snax-dataset-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Tokens 0, 1, 2, ... (mod 65536), so every window shows where it starts. */
function countingTokens(count: number): Uint16Array {
  return Uint16Array.from({ length: count }, (_, i) => i % 65536);
}

function takeBatches(sampler: WindowSampler, count: number): Batch[] {
  return Array.from({ length: count }, () => sampler.nextBatch());
}

describe('isShardOf', () => {
  it('matches split names', () => {
    expect(isShardOf('train_000000.bin', 'train')).toBe(true);
    expect(isShardOf('fineweb_val_000001.bin', 'val')).toBe(true);
    expect(isShardOf('tiny_shakespeare_val.bin', 'val')).toBe(true);
    expect(isShardOf('train_000000.bin', 'val')).toBe(false);
    expect(isShardOf('retrain_000000.bin', 'train')).toBe(false);
    expect(isShardOf('train_000000.txt', 'train')).toBe(false);
  });
});

describe('TokenDataset', () => {
  it('concatenates shards in name order', async () => {
    const dir = join(root, 'shards');
    const storage = storageFor(dir);
    await writeShard(storage, join(dir, 'train_000001.bin'), new Uint16Array([4, 5]));
    await writeShard(storage, join(dir, 'train_000000.bin'), new Uint16Array([1, 2, 3]));
    await writeShard(storage, join(dir, 'val_000000.bin'), new Uint16Array([9]));
    const train = await TokenDataset.open(dir, 'train');
    expect(train.tokens).toEqual(new Uint16Array([1, 2, 3, 4, 5]));
    expect(train.tokenCount).toBe(5);
    expect(train.files).toEqual([join(dir, 'train_000000.bin'), join(dir, 'train_000001.bin')]);
    expect((await TokenDataset.open(dir, 'val')).tokens).toEqual(new Uint16Array([9]));
  });

  it('rejects a folder without shards', async () => {
    const dir = join(root, 'empty');
    const attempt = TokenDataset.open(dir, 'val');
    await expect(attempt).rejects.toMatchObject({ code: 'DATA_NOT_FOUND' });
    await expect(attempt).rejects.toThrow(`no val shards in ${dir}`);
    await expect(attempt).rejects.toThrow('val_000000.bin');
  });

  it('rejects tokens outside the vocabulary', async () => {
    const dir = join(root, 'vocab');
    await writeShard(storageFor(dir), join(dir, 'train_000000.bin'), new Uint16Array([1, 300]));
    await expect(TokenDataset.open(dir, 'train', 256)).rejects.toMatchObject({ code: 'SHARD_BAD_TOKEN' });
  });
});

describe('WindowSampler', () => {
  const dataset = TokenDataset.fromTokens(countingTokens(1001));

  it('cuts windows at multiples of seqLen', () => {
    const sampler = new WindowSampler(dataset, 10, 4, 1);
    expect(sampler.windowCount).toBe(100);
    const batch = sampler.nextBatch();
    for (let row = 0; row < 4; row++) {
      const start = batch.inputs[row * 10];
      expect(start % 10).toBe(0);
      expect(Array.from(batch.inputs.subarray(row * 10, row * 10 + 10))).toEqual(Array.from({ length: 10 }, (_, s) => start + s));
      expect(Array.from(batch.targets.subarray(row * 10, row * 10 + 10))).toEqual(Array.from({ length: 10 }, (_, s) => start + s + 1));
    }
  });

  it('visits every window once per epoch', () => {
    const sampler = new WindowSampler(dataset, 10, 5, 1);
    const starts = takeBatches(sampler, 20).flatMap((batch) => Array.from({ length: 5 }, (_, row) => batch.inputs[row * 10]));
    expect([...starts].sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i * 10));
    expect(sampler.state()).toEqual({ epoch: 0, position: 100 });
  });

  it('reshuffles each epoch', () => {
    const sampler = new WindowSampler(dataset, 10, 100, 1);
    const first = sampler.nextBatch();
    const second = sampler.nextBatch();
    expect(sampler.state()).toEqual({ epoch: 1, position: 100 });
    expect(second.inputs).not.toEqual(first.inputs);
    expect([...second.inputs].sort((a, b) => a - b)).toEqual([...first.inputs].sort((a, b) => a - b));
  });

  it('repeats for the same seed', () => {
    expect(takeBatches(new WindowSampler(dataset, 10, 3, 7), 50)).toEqual(takeBatches(new WindowSampler(dataset, 10, 3, 7), 50));
  });

  it('differs for another seed', () => {
    expect(new WindowSampler(dataset, 10, 3, 7).nextBatch()).not.toEqual(new WindowSampler(dataset, 10, 3, 8).nextBatch());
  });

  it('resumes from a saved state', () => {
    const reference = new WindowSampler(dataset, 10, 3, 7);
    takeBatches(reference, 45);
    const state = JSON.parse(JSON.stringify(reference.state()));
    expect(state.epoch).toBe(1);
    const expected = takeBatches(reference, 40);

    const resumed = new WindowSampler(dataset, 10, 3, 7);
    resumed.restore(state);
    expect(takeBatches(resumed, 40)).toEqual(expected);
  });

  it('rejects a bad state', () => {
    const sampler = new WindowSampler(dataset, 10, 3, 7);
    expect(() => sampler.restore({ epoch: 0, position: 101 })).toThrow(/sampler state position must be an integer in \[0, 100\], got 101/);
    expect(() => sampler.restore({ epoch: -1, position: 0 })).toThrow(/epoch/);
  });

  it('rejects data shorter than a window', () => {
    const short = TokenDataset.fromTokens(countingTokens(10), 'short.bin');
    expect(() => new WindowSampler(short, 10, 1, 0)).toThrow(expect.objectContaining({ code: 'DATA_TOO_SHORT' }));
    expect(() => new WindowSampler(short, 10, 1, 0)).toThrow('short.bin has 10 tokens, but one sequence needs seq_len + 1 = 11');
  });

  it('accepts exactly one window', () => {
    const sampler = new WindowSampler(TokenDataset.fromTokens(countingTokens(11)), 10, 2, 0);
    const batch = sampler.nextBatch();
    expect(batch.inputs.subarray(10)).toEqual(batch.inputs.subarray(0, 10));
    expect(batch.targets[19]).toBe(10);
  });
});

describe('evalBatches', () => {
  const dataset = TokenDataset.fromTokens(countingTokens(51));

  it('reads windows from the start', () => {
    const batches = evalBatches(dataset, 10, 2, 2);
    expect(batches.map((batch) => [batch.inputs[0], batch.inputs[10]])).toEqual([[0, 10], [20, 30]]);
    expect(batches[1].targets[19]).toBe(40);
  });

  it('wraps a short split', () => {
    const batches = evalBatches(dataset, 10, 3, 3);
    expect(batches.map((batch) => [0, 1, 2].map((row) => batch.inputs[row * 10]))).toEqual([[0, 10, 20], [30, 40, 0], [10, 20, 30]]);
  });

  it('repeats exactly', () => {
    expect(evalBatches(dataset, 10, 3, 4)).toEqual(evalBatches(dataset, 10, 3, 4));
  });
});
