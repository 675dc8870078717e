/**
 * Checkpoints: runDir/checkpoints/step_000123/ with model.safetensors,
 * optimizer.safetensors and manifest.json. The manifest contains the step,
 * tokens seen, data position, RNG state, resolved recipe, creation time,
 * SNaX version, and each file's byte size and SHA-256. It is written last,
 * so a folder without one is an interrupted save. Such a folder is never
 * loaded, and the next save of that step replaces it.
 *
 * Works on local folders and s3:// prefixes alike.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SnaxError } from '../errors.js';
import { decodeSafetensors, encodeSafetensors, type Tensor } from './safetensors.js';
import { baseName, isS3Path, joinPath, storageFor, type Storage } from './storage.js';

export type { Tensor } from './safetensors.js';

export interface CheckpointState {
  step: number;
  tokensSeen: number;
  /** The data sampler's state, such as WindowSampler.state(). */
  dataPosition: unknown;
  /** Random number generator state, as JSON. */
  rng: unknown;
  /** The resolved recipe the run used. */
  recipe: unknown;
  model: Map<string, Tensor>;
  optimizer: Map<string, Tensor>;
  /** Anything else the trainer wants back on resume; must be JSON. */
  extra?: Record<string, unknown>;
}

export interface CheckpointFileEntry {
  name: string;
  bytes: number;
  sha256: string;
}

export interface CheckpointManifest {
  format: 1;
  step: number;
  tokensSeen: number;
  dataPosition: unknown;
  rng: unknown;
  recipe: unknown;
  extra?: Record<string, unknown>;
  createdAt: string;
  snaxVersion: string;
  files: CheckpointFileEntry[];
}

export interface CheckpointInfo {
  step: number;
  path: string;
  /** True when the folder has a manifest.json. */
  complete: boolean;
}

export const MANIFEST_NAME = 'manifest.json';
export const MODEL_FILE = 'model.safetensors';
export const OPTIMIZER_FILE = 'optimizer.safetensors';
const CHECKPOINT_FOLDER = 'checkpoints';
const STEP_FOLDER = /^step_(\d+)$/;

// ---------------------------------------------------------------- helpers

let cachedVersion: string | undefined;

/** Returns the version in SNaX's package.json, found above this file (src/storage or dist/src/storage). */
export function snaxVersion(): string {
  if (cachedVersion) return cachedVersion;
  let folder = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 5; depth++) {
    const candidate = join(folder, 'package.json');
    if (existsSync(candidate)) {
      cachedVersion = String((JSON.parse(readFileSync(candidate, 'utf8')) as { version?: unknown }).version ?? 'unknown');
      return cachedVersion;
    }
    folder = resolve(folder, '..');
  }
  cachedVersion = 'unknown';
  return cachedVersion;
}

/** Returns the folder name of a step: step_ and at least six digits. */
export function stepFolderName(step: number): string {
  return `step_${String(step).padStart(6, '0')}`;
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function checkState(state: CheckpointState): void {
  if (!Number.isSafeInteger(state.step) || state.step < 0) {
    throw new SnaxError('INVALID_ARGUMENT', `checkpoint step must be a non-negative integer, got ${String(state.step)}`);
  }
  if (typeof state.tokensSeen !== 'number' || !Number.isFinite(state.tokensSeen) || state.tokensSeen < 0) {
    throw new SnaxError('INVALID_ARGUMENT', `checkpoint tokensSeen must be a non-negative number, got ${String(state.tokensSeen)}`);
  }
  if (!(state.model instanceof Map) || !(state.optimizer instanceof Map)) {
    throw new SnaxError('INVALID_ARGUMENT', 'checkpoint model and optimizer must be Maps from tensor name to tensor');
  }
}

// ---------------------------------------------------------------- save

/**
 * Saves a checkpoint and returns its folder. Throws CHECKPOINT_EXISTS when
 * that step already has a complete checkpoint; replaces an incomplete one.
 */
export async function saveCheckpoint(runDir: string, state: CheckpointState): Promise<string> {
  checkState(state);
  const storage = storageFor(runDir);
  const folder = joinPath(runDir, CHECKPOINT_FOLDER, stepFolderName(state.step));

  if (await storage.exists(joinPath(folder, MANIFEST_NAME))) {
    throw new SnaxError('CHECKPOINT_EXISTS', `checkpoint ${folder} already exists`, {
      fix: 'use a new run folder, or delete that checkpoint folder to save it again',
    });
  }
  if (await storage.exists(folder)) await storage.removeTree(folder);

  const files: CheckpointFileEntry[] = [];
  const parts: Array<[string, Map<string, Tensor>]> = [
    [MODEL_FILE, state.model],
    [OPTIMIZER_FILE, state.optimizer],
  ];
  for (const [name, tensors] of parts) {
    const data = encodeSafetensors(tensors, { step: String(state.step) });
    await storage.writeFile(joinPath(folder, name), data);
    files.push({ name, bytes: data.length, sha256: sha256(data) });
  }

  const manifest: CheckpointManifest = {
    format: 1,
    step: state.step,
    tokensSeen: state.tokensSeen,
    dataPosition: state.dataPosition ?? null,
    rng: state.rng ?? null,
    recipe: state.recipe ?? null,
    ...(state.extra === undefined ? {} : { extra: state.extra }),
    createdAt: new Date().toISOString(),
    snaxVersion: snaxVersion(),
    files,
  };
  // The manifest goes last: its presence marks the checkpoint as complete.
  await storage.writeFile(joinPath(folder, MANIFEST_NAME), JSON.stringify(manifest, null, 2) + '\n');
  return folder;
}

// ---------------------------------------------------------------- find

/** Lists the checkpoint folders of a run, oldest step first; an empty list when there are none. */
export async function listCheckpoints(runDir: string): Promise<CheckpointInfo[]> {
  const storage = storageFor(runDir);
  const base = joinPath(runDir, CHECKPOINT_FOLDER);
  const found: CheckpointInfo[] = [];
  for (const name of await storage.list(base)) {
    const match = STEP_FOLDER.exec(name);
    if (!match) continue;
    const path = joinPath(base, name);
    found.push({ step: Number(match[1]), path, complete: await storage.exists(joinPath(path, MANIFEST_NAME)) });
  }
  return found.sort((a, b) => a.step - b.step);
}

/** Returns the folder of the newest complete checkpoint of a run, or null. */
export async function latestCheckpoint(runDir: string): Promise<string | null> {
  const complete = (await listCheckpoints(runDir)).filter((checkpoint) => checkpoint.complete);
  return complete.length > 0 ? complete[complete.length - 1].path : null;
}

// ---------------------------------------------------------------- load

function manifestCorrupt(path: string, problem: string): SnaxError {
  return new SnaxError('CHECKPOINT_MANIFEST_CORRUPT', `checkpoint manifest ${path} is invalid: ${problem}`, {
    fix: 'restore the file from a copy, or move this checkpoint folder out of checkpoints/ so that --resume takes the next newest one, or pass an earlier checkpoint folder to eval',
  });
}

function parseManifest(text: string, path: string): CheckpointManifest {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw manifestCorrupt(path, `not valid JSON (${(error as Error).message})`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw manifestCorrupt(path, 'not a JSON object');
  const manifest = value as Partial<CheckpointManifest>;

  if (!Number.isSafeInteger(manifest.step) || manifest.step! < 0) {
    throw manifestCorrupt(path, `field step is ${JSON.stringify(manifest.step)}, expected a non-negative integer`);
  }
  if (typeof manifest.tokensSeen !== 'number') {
    throw manifestCorrupt(path, `field tokensSeen is ${JSON.stringify(manifest.tokensSeen)}, expected a number`);
  }
  for (const field of ['dataPosition', 'rng', 'recipe', 'createdAt', 'snaxVersion'] as const) {
    if (!(field in manifest)) throw manifestCorrupt(path, `field ${field} is missing`);
  }
  if (!Array.isArray(manifest.files)) throw manifestCorrupt(path, 'field files is missing or not a list');
  for (const entry of manifest.files as Array<Partial<CheckpointFileEntry>>) {
    const valid =
      entry !== null &&
      typeof entry === 'object' &&
      typeof entry.name === 'string' &&
      !entry.name.includes('/') &&
      !entry.name.includes('\\') &&
      Number.isSafeInteger(entry.bytes) &&
      typeof entry.sha256 === 'string';
    if (!valid) throw manifestCorrupt(path, `files entry ${JSON.stringify(entry)} needs a plain file name, bytes and sha256`);
  }
  for (const required of [MODEL_FILE, OPTIMIZER_FILE]) {
    if (!manifest.files.some((entry) => entry.name === required)) throw manifestCorrupt(path, `files does not list ${required}`);
  }
  return manifest as CheckpointManifest;
}

/** Reads one file of a checkpoint and checks its size and SHA-256 against the manifest. */
async function readVerified(storage: Storage, folder: string, entry: CheckpointFileEntry): Promise<Buffer> {
  const path = joinPath(folder, entry.name);
  if (!(await storage.exists(path))) {
    throw new SnaxError('CHECKPOINT_FILE_MISSING', `checkpoint file ${path} is missing`, {
      fix: 'restore the file from a copy, or move this checkpoint folder out of checkpoints/ so that --resume takes the next newest one, or pass an earlier checkpoint folder to eval',
    });
  }
  const data = await storage.readFile(path);
  if (data.length !== entry.bytes) {
    throw new SnaxError('CHECKPOINT_CHECKSUM_MISMATCH', `checkpoint file ${path} has ${data.length} bytes, expected ${entry.bytes} from the manifest`, {
      fix: 'the file was cut short or replaced: move this checkpoint folder out of checkpoints/ so that --resume takes the next newest one, or pass an earlier checkpoint folder to eval',
    });
  }
  const digest = sha256(data);
  if (digest !== entry.sha256) {
    throw new SnaxError('CHECKPOINT_CHECKSUM_MISMATCH', `checkpoint file ${path} has SHA-256 ${digest}, expected ${entry.sha256} from the manifest`, {
      fix: 'the file was changed or damaged: move this checkpoint folder out of checkpoints/ so that --resume takes the next newest one, or pass an earlier checkpoint folder to eval',
    });
  }
  return data;
}

async function isLocalFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** Returns the checkpoint folder for a path that is a checkpoint folder or a run folder. */
async function resolveCheckpointFolder(path: string): Promise<string> {
  const storage = storageFor(path);
  if (!isS3Path(path) && (await isLocalFile(path))) {
    throw new SnaxError('CHECKPOINT_NOT_FOUND', `${path} is a file, not a checkpoint folder`, {
      fix: 'pass the folder that contains manifest.json (for example <run>/checkpoints/step_000100), or the run folder',
    });
  }
  if (await storage.exists(joinPath(path, MANIFEST_NAME))) return path;

  const latest = await latestCheckpoint(path);
  if (latest) return latest;

  if (STEP_FOLDER.test(baseName(path)) && (await storage.exists(path))) {
    throw new SnaxError('CHECKPOINT_NOT_FOUND', `checkpoint ${path} has no ${MANIFEST_NAME}, so its save did not finish`, {
      fix: 'load an earlier checkpoint, or pass the run folder to use its newest complete checkpoint',
    });
  }
  throw new SnaxError('CHECKPOINT_NOT_FOUND', `no complete checkpoint at ${path}: expected a folder with ${MANIFEST_NAME}, or a run folder with checkpoints/step_*/`, {
    fix: 'check the path; a run saves checkpoints under <run>/checkpoints/',
  });
}

/**
 * Loads a checkpoint from its folder, or the newest complete checkpoint of a
 * run folder, after checking every file's size and SHA-256.
 */
export async function loadCheckpoint(path: string): Promise<CheckpointState> {
  const folder = await resolveCheckpointFolder(path);
  const storage = storageFor(folder);
  const manifestPath = joinPath(folder, MANIFEST_NAME);
  const manifest = parseManifest((await storage.readFile(manifestPath)).toString('utf8'), manifestPath);

  const contents = new Map<string, Buffer>();
  for (const entry of manifest.files) contents.set(entry.name, await readVerified(storage, folder, entry));

  const state: CheckpointState = {
    step: manifest.step,
    tokensSeen: manifest.tokensSeen,
    dataPosition: manifest.dataPosition,
    rng: manifest.rng,
    recipe: manifest.recipe,
    model: decodeSafetensors(contents.get(MODEL_FILE)!, joinPath(folder, MODEL_FILE)),
    optimizer: decodeSafetensors(contents.get(OPTIMIZER_FILE)!, joinPath(folder, OPTIMIZER_FILE)),
  };
  if (manifest.extra !== undefined) state.extra = manifest.extra;
  return state;
}

/** Reads and checks the manifest of a checkpoint folder without loading its tensors. */
export async function readManifest(folder: string): Promise<CheckpointManifest> {
  const path = joinPath(folder, MANIFEST_NAME);
  const storage = storageFor(path);
  if (!(await storage.exists(path))) {
    throw new SnaxError('CHECKPOINT_NOT_FOUND', `checkpoint ${folder} has no ${MANIFEST_NAME}`);
  }
  return parseManifest((await storage.readFile(path)).toString('utf8'), path);
}

// ---------------------------------------------------------------- prune

/**
 * Deletes the oldest complete checkpoints so that `keep` (at least 1) remain,
 * and returns the deleted folders. Incomplete folders are left alone: a newer
 * one may be a save in progress.
 */
export async function pruneCheckpoints(runDir: string, keep: number): Promise<string[]> {
  if (!Number.isInteger(keep) || keep < 1) {
    throw new SnaxError('INVALID_ARGUMENT', `keep must be an integer >= 1, got ${String(keep)}`, {
      fix: 'the newest checkpoint is always kept; pass 1 to keep only it',
    });
  }
  const storage = storageFor(runDir);
  const complete = (await listCheckpoints(runDir)).filter((checkpoint) => checkpoint.complete);
  const doomed = complete.slice(0, Math.max(0, complete.length - keep));
  for (const checkpoint of doomed) {
    // Remove the manifest first, so a crash midway leaves an incomplete folder rather than a broken complete one.
    await storage.remove(joinPath(checkpoint.path, MANIFEST_NAME));
    await storage.removeTree(checkpoint.path);
  }
  return doomed.map((checkpoint) => checkpoint.path);
}
