/**
 * One storage interface for local paths and `s3://bucket/prefix` paths, so
 * that shards, checkpoints and metrics can live on either. Paths are plain
 * strings; `storageFor` picks the backend from the path's scheme.
 *
 * Folders are implicit on S3: a folder exists when an object exists under
 * it. Listing a folder that does not exist returns an empty list on both
 * backends.
 */
import { posix, join } from 'node:path';
import { SnaxError } from '../errors.js';
import { LocalStorage } from './local.js';
import { S3Storage, isS3Path, parseS3Path, S3_SCHEME } from './s3.js';

export { isS3Path, parseS3Path } from './s3.js';
export type { S3Location } from './s3.js';

export interface Storage {
  /** Reads a whole file. Throws FILE_NOT_FOUND naming the path when it does not exist. */
  readFile(path: string): Promise<Buffer>;
  /** Writes a whole file, creating parent folders. Local writes go to a temporary file and are renamed into place. */
  writeFile(path: string, data: Buffer | string): Promise<void>;
  /** Returns true when a file or a non-empty folder exists at path. */
  exists(path: string): Promise<boolean>;
  /** Lists the names (not paths) of the files and folders directly under a folder, sorted. */
  list(prefix: string): Promise<string[]>;
  /** Deletes one file; a missing file is not an error. */
  remove(path: string): Promise<void>;
  /** Deletes a folder and everything under it; a missing folder is not an error. */
  removeTree(path: string): Promise<void>;
  /** Creates a folder and checks that files can be written there; throws OUTPUT_NOT_WRITABLE naming the folder. */
  ensureWritable(folder: string): Promise<void>;
}

let local: LocalStorage | undefined;
let s3: S3Storage | undefined;

/** Returns the storage backend for a path: S3 for `s3://` paths, the local file system otherwise. */
export function storageFor(path: string): Storage {
  if (isS3Path(path)) {
    s3 ??= new S3Storage();
    return s3;
  }
  local ??= new LocalStorage();
  return local;
}

/** Joins path parts with the separator of the path's backend (`/` for S3). */
export function joinPath(base: string, ...parts: string[]): string {
  if (!isS3Path(base)) return join(base, ...parts);
  const { bucket, key } = parseS3Path(base);
  const joined = posix.join(key, ...parts).replace(/^\.?\/+/, '').replace(/\/+$/, '');
  return joined === '.' || joined === '' ? `${S3_SCHEME}${bucket}` : `${S3_SCHEME}${bucket}/${joined}`;
}

/** Returns the last part of a local or S3 path. */
export function baseName(path: string): string {
  return posix.basename(path.replace(/\\/g, '/').replace(/\/+$/, ''));
}
