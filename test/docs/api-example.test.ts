import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { repoRoot } from '../helpers/run.js';

// The example in docs/api.md is run as written, importing the package by its
// own name ('snax' resolves to dist/ through package.json "exports").
const folder = mkdtempSync(join(repoRoot, 'test', '.api-example-'));

afterAll(() => {
  rmSync(folder, { recursive: true, force: true });
});

describe('docs/api.md', () => {
  it('runs its example', async () => {
    const markdown = readFileSync(join(repoRoot, 'docs/api.md'), 'utf8');
    const section = markdown.slice(markdown.indexOf('## Example'));
    const match = /```ts\n([\s\S]*?)```/.exec(section);
    expect(match).not.toBeNull();
    const file = join(folder, 'example.ts');
    writeFileSync(file, match![1]);

    const logged: unknown[][] = [];
    const spy = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
      logged.push(args);
    });
    try {
      await import(file);
    } finally {
      spy.mockRestore();
    }
    expect(logged.length).toBeGreaterThan(0);
    const [tokensPerExpert, dropped, added, savedBytes] = logged[0] as [Int32Array, number, number, number];
    expect(tokensPerExpert).toBeInstanceOf(Int32Array);
    expect(Number.isInteger(dropped)).toBe(true);
    expect(Number.isInteger(added)).toBe(true);
    expect(savedBytes).toBeGreaterThan(0);
  });
});
