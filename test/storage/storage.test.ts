import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { joinPath, parseS3Path, storageFor, type Storage } from '../../src/storage/storage.js';
import { startS3, type TestS3 } from '../helpers/s3.js';

/** Defines the same behaviour tests for each backend. */
function describeBackend(name: string, makeRoot: () => string) {
  describe(`${name} storage`, () => {
    let root: string;
    let storage: Storage;

    beforeAll(() => {
      root = makeRoot();
      storage = storageFor(root);
    });

    it('writes and reads bytes', async () => {
      const path = joinPath(root, 'a', 'bytes.bin');
      const data = Buffer.from([0, 1, 2, 250, 255]);
      await storage.writeFile(path, data);
      expect(Buffer.compare(await storage.readFile(path), data)).toBe(0);
    });

    it('writes and reads text', async () => {
      const path = joinPath(root, 'text.txt');
      await storage.writeFile(path, 'héllo\n');
      expect((await storage.readFile(path)).toString('utf8')).toBe('héllo\n');
    });

    it('overwrites a file', async () => {
      const path = joinPath(root, 'over.txt');
      await storage.writeFile(path, 'first');
      await storage.writeFile(path, 'second');
      expect((await storage.readFile(path)).toString()).toBe('second');
    });

    it('reports existence', async () => {
      await storage.writeFile(joinPath(root, 'exists', 'f.txt'), 'x');
      expect(await storage.exists(joinPath(root, 'exists', 'f.txt'))).toBe(true);
      expect(await storage.exists(joinPath(root, 'exists'))).toBe(true);
      expect(await storage.exists(joinPath(root, 'exists', 'nothing.txt'))).toBe(false);
      expect(await storage.exists(joinPath(root, 'no-folder'))).toBe(false);
    });

    it('lists direct entries', async () => {
      const folder = joinPath(root, 'listing');
      await storage.writeFile(joinPath(folder, 'b.txt'), 'b');
      await storage.writeFile(joinPath(folder, 'a.txt'), 'a');
      await storage.writeFile(joinPath(folder, 'sub', 'deep.txt'), 'd');
      expect(await storage.list(folder)).toEqual(['a.txt', 'b.txt', 'sub']);
    });

    it('lists a missing folder as empty', async () => {
      expect(await storage.list(joinPath(root, 'missing'))).toEqual([]);
    });

    it('removes a file', async () => {
      const path = joinPath(root, 'gone.txt');
      await storage.writeFile(path, 'x');
      await storage.remove(path);
      expect(await storage.exists(path)).toBe(false);
      await storage.remove(path);
    });

    it('removes a tree', async () => {
      const folder = joinPath(root, 'tree');
      await storage.writeFile(joinPath(folder, 'one.txt'), '1');
      await storage.writeFile(joinPath(folder, 'sub', 'two.txt'), '2');
      await storage.writeFile(joinPath(root, 'tree-sibling.txt'), 's');
      await storage.removeTree(folder);
      expect(await storage.exists(folder)).toBe(false);
      expect(await storage.exists(joinPath(root, 'tree-sibling.txt'))).toBe(true);
      await storage.removeTree(folder);
    });

    it('reads a missing file as FILE_NOT_FOUND', async () => {
      await expect(storage.readFile(joinPath(root, 'absent.bin'))).rejects.toMatchObject({ code: 'FILE_NOT_FOUND' });
    });

    it('accepts a writable folder', async () => {
      const folder = joinPath(root, 'writable');
      await storage.ensureWritable(folder);
      expect(await storage.list(folder)).toEqual([]);
    });
  });
}

const localRoot = mkdtempSync(join(tmpdir(), 'snax-storage-'));
afterAll(() => rmSync(localRoot, { recursive: true, force: true }));
describeBackend('local', () => localRoot);

let s3: TestS3;
beforeAll(async () => {
  s3 = await startS3();
});
afterAll(async () => {
  await s3?.stop();
});
describeBackend('s3', () => `s3://${s3.bucket}/prefix`);

describe('local storage details', () => {
  it('leaves no temporary files', async () => {
    const folder = join(localRoot, 'atomic');
    await storageFor(folder).writeFile(join(folder, 'f.bin'), Buffer.alloc(1000));
    expect(readdirSync(folder)).toEqual(['f.bin']);
  });

  it('rejects a folder under a file', async () => {
    const file = join(localRoot, 'plain-file');
    writeFileSync(file, 'x');
    const folder = join(file, 'out');
    const attempt = storageFor(folder).ensureWritable(folder);
    await expect(attempt).rejects.toMatchObject({ code: 'OUTPUT_NOT_WRITABLE' });
    await expect(attempt).rejects.toThrow(folder);
  });

  it.skipIf(process.getuid?.() === 0)('rejects a read-only folder', async () => {
    const folder = join(localRoot, 'read-only');
    await storageFor(folder).ensureWritable(folder);
    chmodSync(folder, 0o500);
    await expect(storageFor(folder).ensureWritable(folder)).rejects.toMatchObject({ code: 'OUTPUT_NOT_WRITABLE' });
    chmodSync(folder, 0o700);
  });
});

describe('s3 storage details', () => {
  it('rejects a missing bucket', async () => {
    const folder = 's3://no-such-bucket/out';
    const attempt = storageFor(folder).ensureWritable(folder);
    await expect(attempt).rejects.toMatchObject({ code: 'OUTPUT_NOT_WRITABLE' });
    await expect(attempt).rejects.toThrow(folder);
  });
});

describe('paths', () => {
  it('joins s3 paths', () => {
    expect(joinPath('s3://b/p/', 'x', 'y.bin')).toBe('s3://b/p/x/y.bin');
    expect(joinPath('s3://b', 'y.bin')).toBe('s3://b/y.bin');
  });

  it('parses s3 paths', () => {
    expect(parseS3Path('s3://bucket/a/b/')).toEqual({ bucket: 'bucket', key: 'a/b' });
    expect(parseS3Path('s3://bucket')).toEqual({ bucket: 'bucket', key: '' });
  });

  it('rejects an s3 path without bucket', () => {
    expect(() => parseS3Path('s3:///key')).toThrow(/expected s3:\/\/bucket/);
  });
});
