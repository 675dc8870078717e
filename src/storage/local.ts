/**
 * The local file system behind the Storage interface. Writes are atomic: the
 * data goes to a temporary file in the same folder, which is then renamed
 * over the target, so a reader never sees half a file.
 */
import { promises as fs } from 'node:fs';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { SnaxError } from '../errors.js';
import type { Storage } from './storage.js';

/** Turns a Node file-system error into a SnaxError that names the path. */
function toSnaxError(error: unknown, action: string, path: string): SnaxError {
  const code = (error as NodeJS.ErrnoException).code;
  const reason = (error as Error).message;
  if (code === 'ENOENT') {
    return new SnaxError('FILE_NOT_FOUND', `cannot ${action} ${path}: file not found`, { cause: error });
  }
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS' || code === 'ENOTDIR' || code === 'EEXIST') {
    return new SnaxError('OUTPUT_NOT_WRITABLE', `cannot ${action} ${path}: ${reason}`, {
      cause: error,
      fix: 'choose a folder you can write to, or fix its permissions',
    });
  }
  return new SnaxError('STORAGE_ERROR', `cannot ${action} ${path}: ${reason}`, { cause: error });
}

export class LocalStorage implements Storage {
  async readFile(path: string): Promise<Buffer> {
    try {
      return await fs.readFile(path);
    } catch (error) {
      throw toSnaxError(error, 'read', path);
    }
  }

  async writeFile(path: string, data: Buffer | string): Promise<void> {
    const temporary = join(dirname(path), `.${randomBytes(6).toString('hex')}.tmp`);
    try {
      await fs.mkdir(dirname(path), { recursive: true });
      await fs.writeFile(temporary, data);
      await fs.rename(temporary, path);
    } catch (error) {
      await fs.rm(temporary, { force: true }).catch(() => undefined);
      throw toSnaxError(error, 'write', path);
    }
  }

  async exists(path: string): Promise<boolean> {
    try {
      await fs.stat(path);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw toSnaxError(error, 'check', path);
    }
  }

  async list(prefix: string): Promise<string[]> {
    try {
      const names = await fs.readdir(prefix);
      return names.sort();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw toSnaxError(error, 'list', prefix);
    }
  }

  async remove(path: string): Promise<void> {
    try {
      await fs.rm(path, { force: true });
    } catch (error) {
      throw toSnaxError(error, 'remove', path);
    }
  }

  async removeTree(path: string): Promise<void> {
    try {
      await fs.rm(path, { recursive: true, force: true });
    } catch (error) {
      throw toSnaxError(error, 'remove', path);
    }
  }

  async ensureWritable(folder: string): Promise<void> {
    const probe = join(folder, `.snax-write-check-${randomBytes(6).toString('hex')}`);
    try {
      await fs.mkdir(folder, { recursive: true });
      await fs.writeFile(probe, '');
      await fs.rm(probe, { force: true });
    } catch (error) {
      throw new SnaxError('OUTPUT_NOT_WRITABLE', `output folder ${folder} is not writable: ${(error as Error).message}`, {
        cause: error,
        fix: 'choose a folder you can write to, or fix its permissions',
      });
    }
  }
}
