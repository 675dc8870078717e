/**
 * Loads the compiled addon (build/Release/snax_native.node) once. The typed
 * wrappers in this folder check shapes and dtypes and then call it; nothing
 * else in SNaX touches the raw exports.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SnaxError } from '../errors.js';

/** The raw exports of the addon; each wrapper module declares the ones it uses. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type RawAddon = Record<string, any>;

let cached: RawAddon | undefined;

/** The maximum thread count that SNAX_NUM_THREADS or setNumThreads may request (kMaxThreads in native/cpu/common.h). */
export const MAX_THREADS = 256;

/** Throws INVALID_ENV unless SNAX_NUM_THREADS is unset or a whole number in [1, MAX_THREADS]. */
function checkThreadVariable(): void {
  const value = process.env.SNAX_NUM_THREADS;
  if (value === undefined || value === '') return;
  const parsed = Number(value);
  if (!/^[0-9]+$/.test(value) || parsed < 1 || parsed > MAX_THREADS) {
    throw new SnaxError('INVALID_ENV', `SNAX_NUM_THREADS must be a whole number from 1 to ${MAX_THREADS}, got '${value}'`, {
      fix: 'set it to the number of cores to use (for example SNAX_NUM_THREADS=2), or unset it to use every core',
    });
  }
}

function packageRoot(): string {
  // This file lives at src/native/ (tests) or dist/src/native/ (built).
  let folder = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 5; depth++) {
    if (existsSync(join(folder, 'package.json'))) return folder;
    folder = resolve(folder, '..');
  }
  throw new SnaxError('ADDON_NOT_FOUND', 'could not find the SNaX package root above ' + fileURLToPath(import.meta.url));
}

/** Returns the addon's exports, loading them on first use. */
export function addon(): RawAddon {
  if (cached) return cached;
  checkThreadVariable();
  const path = join(packageRoot(), 'build', 'Release', 'snax_native.node');
  if (!existsSync(path)) {
    throw new SnaxError('ADDON_NOT_FOUND', `native addon not found at ${path}`, {
      fix: 'run `npm install` (or `npm run install`) in the SNaX folder to build it',
    });
  }
  const require = createRequire(import.meta.url);
  cached = require(path) as RawAddon;
  return cached;
}
