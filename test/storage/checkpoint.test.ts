import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  latestCheckpoint,
  listCheckpoints,
  loadCheckpoint,
  pruneCheckpoints,
  readManifest,
  saveCheckpoint,
  type CheckpointState,
} from '../../src/storage/checkpoint.js';
import type { Tensor } from '../../src/storage/safetensors.js';
import { storageFor } from '../../src/storage/storage.js';
import { makeRandom, randomArray } from '../helpers/numeric.js';
import { startS3, type TestS3 } from '../helpers/s3.js';

const root = mkdtempSync(join(tmpdir(), 'snax-checkpoint-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let runCounter = 0;

function newRun(): string {
  return join(root, `run-${runCounter++}`);
}

function makeState(step: number): CheckpointState {
  const random = makeRandom(step + 1);
  return {
    step,
    tokensSeen: step * 4096,
    dataPosition: { epoch: 1, position: step },
    rng: { seed: 42, counter: step },
    recipe: { model: { width: 64 }, name: 'tiny' },
    model: new Map<string, Tensor>([
      ['embed_VD', { dtype: 'F32', shape: [8, 4], data: randomArray(random, 32) }],
      ['layers.0.w2_EDN', { dtype: 'F32', shape: [2, 4, 3], data: randomArray(random, 24) }],
    ]),
    optimizer: new Map<string, Tensor>([
      ['embed_VD.m', { dtype: 'F32', shape: [8, 4], data: randomArray(random, 32) }],
      ['step', { dtype: 'I32', shape: [1], data: new Int32Array([step]) }],
    ]),
    extra: { bestValLoss: 3.5 },
  };
}

function expectSameState(actual: CheckpointState, expected: CheckpointState): void {
  expect(actual.step).toBe(expected.step);
  expect(actual.tokensSeen).toBe(expected.tokensSeen);
  expect(actual.dataPosition).toEqual(expected.dataPosition);
  expect(actual.rng).toEqual(expected.rng);
  expect(actual.recipe).toEqual(expected.recipe);
  expect(actual.extra).toEqual(expected.extra);
  expect(actual.model).toEqual(expected.model);
  expect(actual.optimizer).toEqual(expected.optimizer);
}

/** Leaves a folder the way a save interrupted before its manifest does. */
function writeIncomplete(runDir: string, step: number): string {
  const folder = join(runDir, 'checkpoints', `step_${String(step).padStart(6, '0')}`);
  mkdirSync(folder, { recursive: true });
  writeFileSync(join(folder, 'model.safetensors'), 'partial');
  return folder;
}

describe('saveCheckpoint', () => {
  it('writes the three files', async () => {
    const runDir = newRun();
    const folder = await saveCheckpoint(runDir, makeState(123));
    expect(folder).toBe(join(runDir, 'checkpoints', 'step_000123'));
    expect(await storageFor(folder).list(folder)).toEqual(['manifest.json', 'model.safetensors', 'optimizer.safetensors']);
  });

  it('writes the manifest last', async () => {
    const runDir = newRun();
    const written = vi.spyOn(storageFor(runDir), 'writeFile');
    try {
      await saveCheckpoint(runDir, makeState(5));
      expect(written.mock.calls.map(([path]) => path.slice(path.lastIndexOf('/') + 1))).toEqual([
        'model.safetensors',
        'optimizer.safetensors',
        'manifest.json',
      ]);
    } finally {
      written.mockRestore();
    }
  });

  it('records sizes and checksums', async () => {
    const folder = await saveCheckpoint(newRun(), makeState(7));
    const manifest = await readManifest(folder);
    expect(manifest.step).toBe(7);
    expect(manifest.tokensSeen).toBe(7 * 4096);
    expect(manifest.snaxVersion).toBe(JSON.parse(readFileSync('package.json', 'utf8')).version);
    expect(Number.isNaN(Date.parse(manifest.createdAt))).toBe(false);
    const model = manifest.files.find((file) => file.name === 'model.safetensors')!;
    expect(model.bytes).toBe(statSync(join(folder, 'model.safetensors')).size);
    expect(model.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('rejects overwriting a checkpoint', async () => {
    const runDir = newRun();
    await saveCheckpoint(runDir, makeState(10));
    const attempt = saveCheckpoint(runDir, makeState(10));
    await expect(attempt).rejects.toMatchObject({ code: 'CHECKPOINT_EXISTS' });
    await expect(attempt).rejects.toThrow('step_000010');
  });

  it('replaces an interrupted save', async () => {
    const runDir = newRun();
    const folder = writeIncomplete(runDir, 10);
    writeFileSync(join(folder, 'leftover.tmp'), 'x');
    await saveCheckpoint(runDir, makeState(10));
    expect(existsSync(join(folder, 'leftover.tmp'))).toBe(false);
    expectSameState(await loadCheckpoint(folder), makeState(10));
  });
});

describe('listCheckpoints', () => {
  it('lists steps in order with completeness', async () => {
    const runDir = newRun();
    await saveCheckpoint(runDir, makeState(200));
    await saveCheckpoint(runDir, makeState(30));
    writeIncomplete(runDir, 1_000_000);
    mkdirSync(join(runDir, 'checkpoints', 'notes'));
    const list = await listCheckpoints(runDir);
    expect(list.map(({ step, complete }) => ({ step, complete }))).toEqual([
      { step: 30, complete: true },
      { step: 200, complete: true },
      { step: 1_000_000, complete: false },
    ]);
  });

  it('returns nothing for a new run', async () => {
    expect(await listCheckpoints(newRun())).toEqual([]);
    expect(await latestCheckpoint(newRun())).toBeNull();
  });
});

describe('latestCheckpoint', () => {
  it('ignores a folder without manifest', async () => {
    const runDir = newRun();
    const complete = await saveCheckpoint(runDir, makeState(20));
    writeIncomplete(runDir, 40);
    expect(await latestCheckpoint(runDir)).toBe(complete);
  });
});

describe('loadCheckpoint', () => {
  it('round-trips the state', async () => {
    const folder = await saveCheckpoint(newRun(), makeState(3));
    expectSameState(await loadCheckpoint(folder), makeState(3));
  });

  it('loads the latest from a run folder', async () => {
    const runDir = newRun();
    await saveCheckpoint(runDir, makeState(1));
    await saveCheckpoint(runDir, makeState(2));
    writeIncomplete(runDir, 3);
    expect((await loadCheckpoint(runDir)).step).toBe(2);
  });

  it('rejects a run without checkpoints', async () => {
    const runDir = newRun();
    await expect(loadCheckpoint(runDir)).rejects.toMatchObject({ code: 'CHECKPOINT_NOT_FOUND' });
  });

  it('rejects an incomplete checkpoint', async () => {
    const folder = writeIncomplete(newRun(), 9);
    const attempt = loadCheckpoint(folder);
    await expect(attempt).rejects.toMatchObject({ code: 'CHECKPOINT_NOT_FOUND' });
    await expect(attempt).rejects.toThrow(/has no manifest.json, so its save did not finish/);
  });

  it('rejects a manifest that is not JSON', async () => {
    const folder = await saveCheckpoint(newRun(), makeState(4));
    writeFileSync(join(folder, 'manifest.json'), '{"step": 4,');
    const attempt = loadCheckpoint(folder);
    await expect(attempt).rejects.toMatchObject({ code: 'CHECKPOINT_MANIFEST_CORRUPT' });
    await expect(attempt).rejects.toThrow(join(folder, 'manifest.json'));
  });

  it('rejects a manifest missing a field', async () => {
    const folder = await saveCheckpoint(newRun(), makeState(4));
    const manifest = JSON.parse(readFileSync(join(folder, 'manifest.json'), 'utf8'));
    delete manifest.tokensSeen;
    writeFileSync(join(folder, 'manifest.json'), JSON.stringify(manifest));
    const attempt = loadCheckpoint(folder);
    await expect(attempt).rejects.toMatchObject({ code: 'CHECKPOINT_MANIFEST_CORRUPT' });
    await expect(attempt).rejects.toThrow(/field tokensSeen is undefined/);
  });

  it('rejects a file name with a path', async () => {
    const folder = await saveCheckpoint(newRun(), makeState(4));
    const manifest = JSON.parse(readFileSync(join(folder, 'manifest.json'), 'utf8'));
    manifest.files[0].name = '../../secret';
    writeFileSync(join(folder, 'manifest.json'), JSON.stringify(manifest));
    await expect(loadCheckpoint(folder)).rejects.toMatchObject({ code: 'CHECKPOINT_MANIFEST_CORRUPT' });
  });

  it('rejects a missing file', async () => {
    const folder = await saveCheckpoint(newRun(), makeState(4));
    rmSync(join(folder, 'optimizer.safetensors'));
    const attempt = loadCheckpoint(folder);
    await expect(attempt).rejects.toMatchObject({ code: 'CHECKPOINT_FILE_MISSING' });
    await expect(attempt).rejects.toThrow(join(folder, 'optimizer.safetensors'));
  });

  it('rejects a changed byte', async () => {
    const folder = await saveCheckpoint(newRun(), makeState(4));
    const path = join(folder, 'model.safetensors');
    const bytes = readFileSync(path);
    bytes[bytes.length - 1] ^= 1;
    writeFileSync(path, bytes);
    const attempt = loadCheckpoint(folder);
    await expect(attempt).rejects.toMatchObject({ code: 'CHECKPOINT_CHECKSUM_MISMATCH' });
    await expect(attempt).rejects.toThrow(/has SHA-256 [0-9a-f]{64}, expected [0-9a-f]{64} from the manifest/);
  });

  it('rejects a truncated file', async () => {
    const folder = await saveCheckpoint(newRun(), makeState(4));
    const path = join(folder, 'model.safetensors');
    writeFileSync(path, readFileSync(path).subarray(0, 100));
    const attempt = loadCheckpoint(folder);
    await expect(attempt).rejects.toMatchObject({ code: 'CHECKPOINT_CHECKSUM_MISMATCH' });
    await expect(attempt).rejects.toThrow(/has 100 bytes, expected \d+ from the manifest/);
  });
});

describe('pruneCheckpoints', () => {
  it('keeps the newest N', async () => {
    const runDir = newRun();
    for (const step of [10, 20, 30, 40, 50]) await saveCheckpoint(runDir, makeState(step));
    const removed = await pruneCheckpoints(runDir, 2);
    expect(removed).toEqual([10, 20, 30].map((step) => join(runDir, 'checkpoints', `step_0000${step}`)));
    expect((await listCheckpoints(runDir)).map((checkpoint) => checkpoint.step)).toEqual([40, 50]);
  });

  it('leaves a save in progress alone', async () => {
    const runDir = newRun();
    for (const step of [10, 20]) await saveCheckpoint(runDir, makeState(step));
    writeIncomplete(runDir, 30);
    expect(await pruneCheckpoints(runDir, 1)).toEqual([join(runDir, 'checkpoints', 'step_000010')]);
    expect((await listCheckpoints(runDir)).map(({ step, complete }) => [step, complete])).toEqual([
      [20, true],
      [30, false],
    ]);
  });

  it('removes nothing when few exist', async () => {
    const runDir = newRun();
    await saveCheckpoint(runDir, makeState(1));
    expect(await pruneCheckpoints(runDir, 3)).toEqual([]);
  });

  it('rejects keep below one', async () => {
    await expect(pruneCheckpoints(newRun(), 0)).rejects.toThrow(/keep must be an integer >= 1, got 0/);
  });
});

describe('checkpoints on s3', () => {
  let s3: TestS3;
  beforeAll(async () => {
    s3 = await startS3();
  });
  afterAll(async () => {
    await s3?.stop();
  });

  it('saves, lists, loads and prunes', async () => {
    const runDir = `s3://${s3.bucket}/runs/tiny`;
    for (const step of [1, 2, 3]) await saveCheckpoint(runDir, makeState(step));
    expect(await latestCheckpoint(runDir)).toBe(`${runDir}/checkpoints/step_000003`);
    expectSameState(await loadCheckpoint(runDir), makeState(3));
    await expect(saveCheckpoint(runDir, makeState(3))).rejects.toMatchObject({ code: 'CHECKPOINT_EXISTS' });
    expect(await pruneCheckpoints(runDir, 1)).toHaveLength(2);
    expect((await listCheckpoints(runDir)).map((checkpoint) => checkpoint.step)).toEqual([3]);
  });
});
