import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, runSnax } from '../helpers/run.js';

const smoke = join(repoRoot, 'recipes/smoke.yaml');
let workDir = '';

beforeAll(() => {
  workDir = mkdtempSync(join(tmpdir(), 'snax-e2e-'));
});

afterAll(() => {
  rmSync(workDir, { recursive: true, force: true });
});

describe('snax train (smoke recipe)', () => {
  it('trains, evaluates, refuses to overwrite and resumes', () => {
    const trained = runSnax(['train', smoke, '--json'], { cwd: workDir });
    expect(trained.stderr).not.toMatch(/error/i);
    expect(trained.status).toBe(0);
    const summary = JSON.parse(trained.stdout);
    expect(summary.finalStep).toBeGreaterThan(0);
    expect(summary.valLoss).toBeGreaterThan(0);
    expect(summary.checkpoint).toContain('step_');
    const runDir = join(workDir, 'runs/smoke');
    expect(existsSync(join(runDir, 'metrics.jsonl'))).toBe(true);

    const evaluated = runSnax(['eval', '--checkpoint', runDir, '--json'], { cwd: workDir });
    expect(evaluated.status).toBe(0);
    expect(JSON.parse(evaluated.stdout).loss).toBe(summary.valLoss);

    const again = runSnax(['train', smoke], { cwd: workDir });
    expect(again.status).toBe(1);
    expect(again.stderr).toContain('RUN_EXISTS');
    expect(again.stderr).toContain('--resume');

    const more = summary.finalStep + 10;
    const resumed = runSnax(['train', smoke, '--resume', '--set', `train.steps=${more}`, '--json'], { cwd: workDir });
    expect(resumed.status).toBe(0);
    const resumedSummary = JSON.parse(resumed.stdout);
    expect(resumedSummary.finalStep).toBe(more);
    expect(resumedSummary.trainLosses).toHaveLength(10);
  });

  it('prints a settings table and step lines', () => {
    const result = runSnax(['train', smoke, '--set', 'output=runs/table', '--set', 'train.steps=4', '--set', 'log.every=2'], { cwd: workDir });
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/\| device +\| CPU, \d+ threads/);
    expect(result.stdout).toMatch(/step +2\/4 \| loss \d+\.\d+/);
    expect(result.stdout).toMatch(/eval +step 4: val loss/);
  });

  it('saves a checkpoint on SIGTERM', async () => {
    const child = spawn(process.execPath, [join(repoRoot, 'bin/run.js'), 'train', smoke, '--set', 'output=runs/signal', '--set', 'train.steps=100000', '--set', 'log.every=1'], {
      cwd: workDir,
    });
    let stdout = '';
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await new Promise<void>((resolve) => {
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        if (/step +3\//.test(stdout)) resolve();
      });
    });
    child.kill('SIGTERM');
    const code = await exited;
    expect(code).toBe(0);
    expect(stdout).toMatch(/stopped at step \d+/);
    const checkpoints = readdirSync(join(workDir, 'runs/signal/checkpoints'));
    expect(checkpoints.length).toBe(1);
    expect(existsSync(join(workDir, 'runs/signal/checkpoints', checkpoints[0], 'manifest.json'))).toBe(true);
  });
});
