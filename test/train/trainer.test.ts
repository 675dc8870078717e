import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepareData } from '../../src/data/prepare.js';
import { loadRecipe } from '../../src/recipe/load.js';
import { train } from '../../src/train/trainer.js';
import { evaluateCheckpoint } from '../../src/train/evaluate.js';
import { listCheckpoints } from '../../src/storage/checkpoint.js';
import { SnaxError } from '../../src/errors.js';
import { repoRoot } from '../helpers/run.js';
import { startS3, type TestS3 } from '../helpers/s3.js';
import { storageFor } from '../../src/storage/storage.js';

let workDir = '';
let dataDir = '';

function overrides(output: string, extra: string[] = []): string[] {
  return [
    `output=${output}`,
    `data.dir=${dataDir}`,
    'model.width=32',
    'model.layers=2',
    'model.heads=2',
    'model.seq_len=16',
    'moe.experts=8',
    'moe.active=2',
    'moe.expert_width=16',
    'train.batch_size=4',
    'train.steps=6',
    'eval.every=3',
    'eval.batches=2',
    'checkpoint.every=3',
    'log.every=1',
    ...extra,
  ];
}

beforeAll(async () => {
  workDir = mkdtempSync(join(tmpdir(), 'snax-trainer-'));
  dataDir = join(workDir, 'data');
  await prepareData({ inputs: [join(repoRoot, 'test/fixtures/tiny.txt')], tokenizer: 'byte', outDir: dataDir, valFraction: 0.2 });
});

afterAll(() => {
  rmSync(workDir, { recursive: true, force: true });
});

describe('train', () => {
  it('lowers the loss and writes metrics', async () => {
    const output = join(workDir, 'learn');
    const recipe = await loadRecipe(join(repoRoot, 'recipes/smoke.yaml'), overrides(output, ['train.steps=40', 'optim.lr=3e-3', 'schedule.warmup_steps=5']));
    const summary = await train(recipe, { resume: false });
    expect(summary.finalStep).toBe(40);
    const first = summary.losses.slice(0, 3).reduce((a, b) => a + b) / 3;
    const last = summary.losses.slice(-3).reduce((a, b) => a + b) / 3;
    expect(first).toBeGreaterThan(last + 0.5);
    expect(summary.valLoss).not.toBeNull();
    expect(Number.isFinite(summary.valLoss!)).toBe(true);
    const records = readFileSync(join(output, 'metrics.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line));
    const stepRecords = records.filter((record) => 'loss/train' in record);
    expect(stepRecords).toHaveLength(40);
    for (const key of ['optim/lr', 'optim/grad_norm', 'throughput/tokens_per_s', 'memory/activation_bytes', 'moe/max_load', 'moe/dropped_tokens', 'moe/padding_waste']) {
      expect(stepRecords[0], key).toHaveProperty([key]);
    }
    expect(records.some((record) => 'loss/val' in record)).toBe(true);
  });

  it('resumes with bitwise-identical losses', async () => {
    const straight = await train(await loadRecipe(join(repoRoot, 'recipes/smoke.yaml'), overrides(join(workDir, 'straight'))), { resume: false });

    const splitOutput = join(workDir, 'split');
    const recipe = await loadRecipe(join(repoRoot, 'recipes/smoke.yaml'), overrides(splitOutput));
    let steps = 0;
    const first = await train(recipe, { resume: false, shouldStop: () => ++steps >= 4 }, {});
    expect(first.stopped).toBe(true);
    expect(first.finalStep).toBe(4);
    const second = await train(recipe, { resume: true });
    expect(second.finalStep).toBe(6);

    const resumedLosses = [...first.losses, ...second.losses];
    expect(resumedLosses).toHaveLength(6);
    for (let i = 0; i < 6; i++) expect(resumedLosses[i], `step ${i + 1}`).toBe(straight.losses[i]);
    expect(second.valLoss).toBe(straight.valLoss);
  });

  it('refuses to start over existing checkpoints', async () => {
    const output = join(workDir, 'exists');
    const recipe = await loadRecipe(join(repoRoot, 'recipes/smoke.yaml'), overrides(output, ['train.steps=3']));
    await train(recipe, { resume: false });
    const before = await listCheckpoints(output);
    await expect(train(recipe, { resume: false })).rejects.toThrow(/already has checkpoints/);
    const after = await listCheckpoints(output);
    expect(after).toEqual(before);
  });

  it('keeps only the newest checkpoints', async () => {
    const output = join(workDir, 'keep');
    const recipe = await loadRecipe(join(repoRoot, 'recipes/smoke.yaml'), overrides(output, ['train.steps=8', 'checkpoint.every=2', 'checkpoint.keep=2']));
    await train(recipe, { resume: false });
    const steps = (await listCheckpoints(output)).filter((c) => c.complete).map((c) => c.step);
    expect(steps).toEqual([6, 8]);
  });

  it('evaluates a checkpoint like the final eval', async () => {
    const output = join(workDir, 'evaluate');
    const recipe = await loadRecipe(join(repoRoot, 'recipes/smoke.yaml'), overrides(output, ['train.steps=3']));
    const summary = await train(recipe, { resume: false });
    const result = await evaluateCheckpoint(output);
    expect(result.step).toBe(3);
    expect(result.loss).toBe(summary.valLoss);
  });

  it('rejects a sequence longer than the data', async () => {
    const recipe = await loadRecipe(join(repoRoot, 'recipes/smoke.yaml'), overrides(join(workDir, 'long'), ['model.seq_len=4096']));
    const error = await train(recipe, { resume: false }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(SnaxError);
    expect((error as SnaxError).code).toBe('DATA_TOO_SHORT');
  });
});

describe('train on s3', () => {
  let s3: TestS3;

  beforeAll(async () => {
    s3 = await startS3('snax-runs');
  });

  afterAll(async () => {
    await s3.stop();
  });

  it('writes, resumes and evaluates an s3 run', async () => {
    const output = `s3://${s3.bucket}/runs/remote`;
    const recipe = await loadRecipe(join(repoRoot, 'recipes/smoke.yaml'), overrides(output));
    let steps = 0;
    const first = await train(recipe, { resume: false, shouldStop: () => ++steps >= 4 });
    expect(first.finalStep).toBe(4);
    expect(first.checkpoint).toBe(`${output}/checkpoints/step_000004`);

    const second = await train(recipe, { resume: true });
    expect(second.finalStep).toBe(6);
    const complete = (await listCheckpoints(output)).filter((c) => c.complete).map((c) => c.step);
    expect(complete).toContain(6);

    const result = await evaluateCheckpoint(output);
    expect(result.step).toBe(6);
    expect(result.loss).toBe(second.valLoss);

    const metrics = (await storageFor(output).readFile(`${output}/metrics.jsonl`)).toString('utf8').trim().split('\n');
    expect(metrics.filter((line) => line.includes('"loss/train"'))).toHaveLength(6);
  });
});

describe('train notes', () => {
  it('stops at once when resumed past train.steps', async () => {
    const output = join(workDir, 'past-end');
    const recipe = await loadRecipe(join(repoRoot, 'recipes/smoke.yaml'), overrides(output, ['train.steps=3']));
    await train(recipe, { resume: false });
    const notes: string[] = [];
    const again = await train(recipe, { resume: true }, { note: (message) => notes.push(message) });
    expect(again.finalStep).toBe(3);
    expect(again.losses).toHaveLength(0);
    expect(notes.join('\n')).toMatch(/already at or past train\.steps=3/);
    const lines = readFileSync(join(output, 'metrics.jsonl'), 'utf8').trim().split('\n');
    expect(lines.filter((line) => line.includes('"loss/val"'))).toHaveLength(1);
  });

  it('warns when the rounding tile exceeds the expert load', async () => {
    const recipe = await loadRecipe(join(repoRoot, 'recipes/smoke.yaml'), overrides(join(workDir, 'tile'), ['train.steps=1', 'moe.rounding=down', 'moe.tile=64']));
    const notes: string[] = [];
    await train(recipe, { resume: false }, { note: (message) => notes.push(message) });
    expect(notes.join('\n')).toMatch(/an expert receives 16\.0 tokens on average/);
  });
});

describe('train metrics file', () => {
  it('drops records logged after the resumed checkpoint', async () => {
    const output = join(workDir, 'crashed');
    const recipe = await loadRecipe(join(repoRoot, 'recipes/smoke.yaml'), overrides(output));
    await train(recipe, { resume: false });
    // A crash after step 6 was logged but before its checkpoint was complete:
    rmSync(join(output, 'checkpoints', 'step_000006', 'manifest.json'));
    const notes: string[] = [];
    await train(recipe, { resume: true }, { note: (message) => notes.push(message) });
    expect(notes.join('\n')).toMatch(/dropped \d+ metric records logged after the checkpoint at step 3/);
    const steps = readFileSync(join(output, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line))
      .filter((record) => 'loss/train' in record)
      .map((record) => record.step);
    expect(steps).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('moves an earlier run without checkpoints aside', async () => {
    const output = join(workDir, 'earlier');
    mkdirSync(output, { recursive: true });
    writeFileSync(join(output, 'metrics.jsonl'), '{"step":1,"loss/train":9}\n');
    const recipe = await loadRecipe(join(repoRoot, 'recipes/smoke.yaml'), overrides(output, ['train.steps=2']));
    const notes: string[] = [];
    await train(recipe, { resume: false }, { note: (message) => notes.push(message) });
    expect(notes.join('\n')).toMatch(/moved the metrics of an earlier run/);
    const aside = readdirSync(output).filter((name) => name.startsWith('metrics.before-'));
    expect(aside).toHaveLength(1);
    expect(readFileSync(join(output, aside[0]), 'utf8')).toBe('{"step":1,"loss/train":9}\n');
    expect(readFileSync(join(output, 'metrics.jsonl'), 'utf8')).not.toContain('"loss/train":9');
  });
});
