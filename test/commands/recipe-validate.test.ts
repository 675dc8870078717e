import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadRecipe } from '../../src/recipe/load.js';
import { describeModel } from '../../src/recipe/size.js';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..', '..');

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

async function snax(...args: string[]): Promise<Result> {
  try {
    const { stdout, stderr } = await run('node', ['bin/run.js', ...args], { cwd: root });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

let badRecipe = '';

beforeAll(async () => {
  await run('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: root });
  const folder = mkdtempSync(join(tmpdir(), 'snax-validate-'));
  badRecipe = join(folder, 'bad.yaml');
  writeFileSync(badRecipe, [
    'model: {width: 64, layers: 2, heads: 4, seq_len: 16}',
    'moe:',
    '  experts: 8',
    '  activ: 2',
    '  expert_width: 16',
    'data: {dir: x}',
    'train: {steps: 10, batch_size: 2}',
    '',
  ].join('\n'));
});

describe('snax recipe validate', () => {
  it('prints the resolved recipe', async () => {
    const result = await snax('recipe', 'validate', 'recipes/smoke.yaml');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('name: smoke');
    expect(result.stdout).toContain('  gate: renormalize');
    expect(result.stdout).toContain('  vocab_size: 256');
    expect(result.stdout).toMatch(/total parameters\s+\d/);
    expect(result.stdout).toMatch(/snax \(selected\)\s+\d/);
    expect(result.stdout).toMatch(/cache-all\s+\d/);
  });

  it('applies --set', async () => {
    const result = await snax('recipe', 'validate', 'recipes/smoke.yaml', '--set', 'moe.active=4', '--set', 'moe.recompute=full');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('  active: 4');
    expect(result.stdout).toMatch(/full \(selected\)/);
  });

  it('fails on a bad recipe', async () => {
    const result = await snax('recipe', 'validate', badRecipe);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('error [RECIPE_INVALID]');
    expect(result.stderr).toContain(`${badRecipe}:4:3: moe.activ = 2: unknown key in moe`);
    expect(result.stderr).toContain('did you mean "active"?');
  });

  it('fails on a bad --set', async () => {
    const result = await snax('recipe', 'validate', 'recipes/smoke.yaml', '--set', 'moe.rounding=upp');
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('--set moe.rounding=upp: moe.rounding = "upp": not an allowed value');
  });

  it('prints json', async () => {
    const result = await snax('recipe', 'validate', 'recipes/smoke.yaml', '--json');
    expect(result.code).toBe(0);
    const output = JSON.parse(result.stdout) as { recipe: unknown; size: unknown };
    const recipe = await loadRecipe(join(root, 'recipes', 'smoke.yaml'));
    expect(output.recipe).toEqual(recipe);
    expect(output.size).toEqual(describeModel(recipe));
  });

  it('prints json errors', async () => {
    const result = await snax('recipe', 'validate', badRecipe, '--json');
    expect(result.code).toBe(1);
    const output = JSON.parse(result.stdout) as { error: { code: string; message: string } };
    expect(output.error.code).toBe('RECIPE_INVALID');
    expect(output.error.message).toContain('moe.activ = 2');
  });

  it('reports a missing file', async () => {
    const result = await snax('recipe', 'validate', 'recipes/none.yaml');
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('error [RECIPE_NOT_FOUND]: recipe file recipes/none.yaml not found');
  });

  it('shows help', async () => {
    const result = await snax('recipe', 'validate', '--help');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Check a recipe and print it with every default filled in.');
    expect(result.stdout).toContain('--set=path=value');
    expect(result.stdout).toContain('EXAMPLES');
  });
});
