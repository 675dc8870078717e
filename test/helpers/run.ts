/**
 * Helpers for end-to-end tests: run the real `snax` binary (bin/run.js,
 * which loads the compiled commands from dist/) and collect its output.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const binary = join(repoRoot, 'bin', 'run.js');

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `snax ARGS` in `cwd` and waits for it to exit. */
export function runSnax(args: string[], options: { cwd?: string; env?: Record<string, string>; timeoutMs?: number } = {}): RunResult {
  const result = spawnSync(process.execPath, [binary, ...args], {
    cwd: options.cwd ?? repoRoot,
    env: { ...process.env, ...options.env },
    encoding: 'utf8',
    timeout: options.timeoutMs ?? 120_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}
