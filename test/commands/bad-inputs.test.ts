import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepareData } from '../../src/data/prepare.js';
import { repoRoot, runSnax } from '../helpers/run.js';

let workDir = '';
let dataDir = '';

/** A small valid recipe; each case below breaks one thing in it. */
function recipeText(output: string, data: string): string {
  return [
    'name: bad-input-case',
    `output: ${output}`,
    'model: {vocab_size: 256, width: 32, layers: 1, heads: 2, seq_len: 16}',
    'moe: {experts: 4, active: 2, expert_width: 8}',
    `data: {dir: ${data}, tokenizer: byte}`,
    'train: {steps: 2, batch_size: 2}',
    'eval: {every: 0, batches: 1}',
    'checkpoint: {every: 0, keep: 2}',
    '',
  ].join('\n');
}

function writeRecipe(name: string, text: string): string {
  const path = join(workDir, name + '.yaml');
  writeFileSync(path, text);
  return path;
}

/** Runs `snax train` and checks that it failed before training wrote anything. */
function expectRejected(args: string[], code: string, pattern: RegExp, output?: string, env?: Record<string, string>): void {
  const result = runSnax(args, { cwd: workDir, env });
  expect(result.status, result.stdout + result.stderr).toBe(1);
  expect(result.stderr).toContain(code);
  expect(result.stderr).toMatch(pattern);
  expect(result.stderr).not.toMatch(/\n\s+at /); // no stack trace for a user error
  if (output) expect(existsSync(output), `${output} was left behind`).toBe(false);
}

beforeAll(async () => {
  workDir = mkdtempSync(join(tmpdir(), 'snax-bad-'));
  dataDir = join(workDir, 'data');
  await prepareData({ inputs: [join(repoRoot, 'test/fixtures/tiny.txt')], tokenizer: 'byte', outDir: dataDir, valFraction: 0.2 });
});

afterAll(() => {
  rmSync(workDir, { recursive: true, force: true });
});

describe('bad inputs fail before training', () => {
  it('unknown key, with a suggestion', () => {
    const text = recipeText(join(workDir, 'out-unknown'), dataDir).replace('train: {steps: 2,', 'train: {stesp: 2, steps: 2,');
    expectRejected(['train', writeRecipe('unknown', text)], 'RECIPE_INVALID', /train\.stesp[\s\S]*did you mean "?steps"?/i, join(workDir, 'out-unknown'));
  });

  it('wrong type, with file and line', () => {
    const text = recipeText(join(workDir, 'out-type'), dataDir).replace('width: 32', 'width: wide');
    expectRejected(['train', writeRecipe('type', text)], 'RECIPE_INVALID', /type\.yaml:3:\d+[\s\S]*model\.width/, join(workDir, 'out-type'));
  });

  it('K greater than E', () => {
    expectRejected(['train', writeRecipe('k', recipeText(join(workDir, 'out-k'), dataDir)), '--set', 'moe.active=5'], 'RECIPE_INVALID', /moe\.active[\s\S]*5[\s\S]*4/, join(workDir, 'out-k'));
  });

  it('heads that do not divide the width', () => {
    expectRejected(['train', writeRecipe('heads', recipeText(join(workDir, 'out-heads'), dataDir)), '--set', 'model.heads=3'], 'RECIPE_INVALID', /model\.heads[\s\S]*3/, join(workDir, 'out-heads'));
  });

  it('missing data path', () => {
    const missing = join(workDir, 'no-such-data');
    expectRejected(['train', writeRecipe('nodata', recipeText(join(workDir, 'out-nodata'), missing))], 'DATA_NOT_FOUND', new RegExp(missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')), join(workDir, 'out-nodata'));
  });

  it('shard with a bad header', () => {
    const broken = join(workDir, 'data-badheader');
    cpSync(dataDir, broken, { recursive: true });
    const shard = join(broken, readdirSync(broken).find((name) => name.includes('train'))!);
    const bytes = readFileSync(shard);
    bytes.writeInt32LE(12345, 0);
    writeFileSync(shard, bytes);
    expectRejected(['train', writeRecipe('badheader', recipeText(join(workDir, 'out-badheader'), broken))], 'SHARD_BAD_HEADER', /12345[\s\S]*20240520/, join(workDir, 'out-badheader'));
  });

  it('truncated shard', () => {
    const broken = join(workDir, 'data-truncated');
    cpSync(dataDir, broken, { recursive: true });
    const shard = join(broken, readdirSync(broken).find((name) => name.includes('train'))!);
    truncateSync(shard, statSync(shard).size - 100);
    expectRejected(['train', writeRecipe('truncated', recipeText(join(workDir, 'out-truncated'), broken))], 'SHARD_TRUNCATED', /train/, join(workDir, 'out-truncated'));
  });

  it('unwritable output folder', () => {
    const file = join(workDir, 'a-file');
    writeFileSync(file, 'not a folder');
    expectRejected(['train', writeRecipe('unwritable', recipeText(join(file, 'run'), dataDir))], 'OUTPUT_NOT_WRITABLE', /a-file/);
  });

  it('shards of another tokenizer', () => {
    const output = join(workDir, 'out-tokenizer');
    const text = recipeText(output, dataDir).replace('vocab_size: 256', 'vocab_size: 50257').replace('tokenizer: byte', 'tokenizer: gpt2');
    expectRejected(['train', writeRecipe('tokenizer', text)], 'DATA_TOKENIZER_MISMATCH', /byte tokens[\s\S]*data\.tokenizer is gpt2/, output);
  });

  it('bad SNAX_NUM_THREADS', () => {
    const output = join(workDir, 'out-threads');
    expectRejected(['train', writeRecipe('threads', recipeText(output, dataDir))], 'INVALID_ENV', /SNAX_NUM_THREADS[\s\S]*got '100000'/, output, { SNAX_NUM_THREADS: '100000' });
  });

  it('batch too large for memory', () => {
    const output = join(workDir, 'out-memory');
    expectRejected(['train', writeRecipe('memory', recipeText(output, dataDir)), '--set', 'train.batch_size=99999999'], 'MEMORY_TOO_LARGE', /train\.batch_size=99999999/, output);
  });

  describe('checkpoints', () => {
    let runDir = '';
    let checkpointDir = '';

    beforeAll(() => {
      runDir = join(workDir, 'run-ckpt');
      const trained = runSnax(['train', writeRecipe('ckpt', recipeText(runDir, dataDir))], { cwd: workDir });
      expect(trained.status, trained.stderr).toBe(0);
      const names = readdirSync(join(runDir, 'checkpoints'));
      checkpointDir = join(runDir, 'checkpoints', names[0]);
    });

    it('corrupt manifest', () => {
      const copy = join(workDir, 'ckpt-corrupt');
      cpSync(checkpointDir, copy, { recursive: true });
      writeFileSync(join(copy, 'manifest.json'), '{"step": 2, "files": ');
      expectRejected(['eval', '--checkpoint', copy], 'CHECKPOINT_MANIFEST_CORRUPT', /manifest\.json/);
    });

    it('missing checkpoint file', () => {
      const copy = join(workDir, 'ckpt-missing');
      cpSync(checkpointDir, copy, { recursive: true });
      unlinkSync(join(copy, 'optimizer.safetensors'));
      expectRejected(['eval', '--checkpoint', copy], 'CHECKPOINT_FILE_MISSING', /optimizer\.safetensors/);
    });

    it('bad --set value leaves the checkpoints intact', () => {
      const before = readdirSync(join(runDir, 'checkpoints'));
      const manifest = readFileSync(join(checkpointDir, 'manifest.json'));
      expectRejected(['train', join(workDir, 'ckpt.yaml'), '--resume', '--set', 'optim.lr=fast'], 'RECIPE_INVALID', /optim\.lr[\s\S]*fast/);
      expect(readdirSync(join(runDir, 'checkpoints'))).toEqual(before);
      expect(readFileSync(join(checkpointDir, 'manifest.json')).equals(manifest)).toBe(true);
    });

    it('a file passed as the checkpoint', () => {
      expectRejected(['eval', '--checkpoint', join(checkpointDir, 'model.safetensors')], 'CHECKPOINT_NOT_FOUND', /is a file, not a checkpoint folder/);
    });

    it('resume with another model width', () => {
      expectRejected(['train', join(workDir, 'ckpt.yaml'), '--resume', '--set', 'model.width=64'], 'CHECKPOINT_MISMATCH', /model\.width is 32 in the checkpoint, 64 in the recipe/);
    });

    it('missing recipe file', () => {
      expectRejected(['train', join(workDir, 'nope.yaml')], 'RECIPE_NOT_FOUND', /nope\.yaml/);
    });
  });
});

