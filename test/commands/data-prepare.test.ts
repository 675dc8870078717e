import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TokenDataset } from '../../src/data/dataset.js';
import { startS3, type TestS3 } from '../helpers/s3.js';

const root = mkdtempSync(join(tmpdir(), 'snax-command-'));
const textFile = join(root, 'story.txt');

/**
 * Runs the built CLI as a user would, with extra environment variables. The
 * child runs asynchronously because the S3 server of these tests lives in
 * this process and must keep serving requests.
 */
function snax(args: string[], env: Record<string, string> = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/run.js', ...args], {
      env: { ...process.env, ...env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
      timeout: 60_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

beforeAll(() => {
  execFileSync('npx', ['tsc', '-p', 'tsconfig.json'], { stdio: 'inherit' });
  const paragraphs = Array.from({ length: 12 }, (_, i) => `Chapter ${i}. Once upon a time there was story number ${i}.`);
  writeFileSync(textFile, paragraphs.join('\n\n'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('snax data prepare', () => {
  it('prints help with examples', async () => {
    const { status, stdout } = await snax(['data', 'prepare', '--help']);
    expect(status).toBe(0);
    expect(stdout).toContain('--val-fraction');
    expect(stdout).toContain('EXAMPLES');
  });

  it('writes byte shards', async () => {
    const out = join(root, 'byte');
    const { status, stdout, stderr } = await snax(['data', 'prepare', '--input', textFile, '--tokenizer', 'byte', '--out', out, '--val-fraction', '0.25']);
    expect(stderr).toBe('');
    expect(status).toBe(0);
    expect(stdout).toContain('documents: 9 train, 3 val');
    expect(stdout).toContain(join(out, 'train_000000.bin'));
    const train = await TokenDataset.open(out, 'train', 256);
    expect(stdout).toContain(`tokens:    ${train.tokenCount} train`);
  });

  it('prints JSON', async () => {
    const out = join(root, 'json');
    const { status, stdout } = await snax(['data', 'prepare', '-i', textFile, '-t', 'gpt2', '-o', out, '--json']);
    expect(status).toBe(0);
    const result = JSON.parse(stdout);
    expect(result.valDocuments).toBe(1);
    expect(result.trainDocuments).toBe(11);
    expect(result.files).toEqual([join(out, 'train_000000.bin'), join(out, 'val_000000.bin')]);
  });

  it('reports a missing input', async () => {
    const glob = join(root, 'absent', '*.txt');
    const out = join(root, 'missing');
    const { status, stderr } = await snax(['data', 'prepare', '--input', glob, '--out', out]);
    expect(status).toBe(1);
    expect(stderr).toContain('error [DATA_INPUT_NOT_FOUND]');
    expect(stderr).toContain(glob);
    expect(existsSync(join(out, 'train_000000.bin'))).toBe(false);
  });

  it('rejects a bad val fraction', async () => {
    const { status, stderr } = await snax(['data', 'prepare', '--input', textFile, '--out', join(root, 'bad'), '--val-fraction', '1.5']);
    expect(status).toBe(2);
    expect(stderr).toContain('--val-fraction must be a number in [0, 1), got "1.5"');
  });

  describe('on s3', () => {
    let s3: TestS3;
    beforeAll(async () => {
      s3 = await startS3();
    });
    afterAll(async () => {
      await s3?.stop();
    });

    it('writes shards to a bucket', async () => {
      const out = `s3://${s3.bucket}/cli`;
      const { status, stdout, stderr } = await snax(['data', 'prepare', '-i', textFile, '-o', out], s3.env);
      expect(stderr).toBe('');
      expect(status).toBe(0);
      expect(stdout).toContain(`${out}/val_000000.bin`);
      expect((await TokenDataset.open(out, 'val', 256)).tokenCount).toBeGreaterThan(0);
    });
  });
});
