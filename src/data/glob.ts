/**
 * A small file glob for `--input` patterns, because Node 20 has no
 * fs.promises.glob (it arrived in Node 22). Supports `*` and `?` within one
 * path segment, character classes `[abc]`, `[a-z]` and `[!abc]`, and `**` for
 * any number of folders. Matches files only, and returns them sorted.
 */
import { promises as fs } from 'node:fs';
import { isAbsolute, join, sep } from 'node:path';

/** Returns true when the pattern contains glob syntax. */
export function hasGlobSyntax(pattern: string): boolean {
  return /[*?[]/.test(pattern);
}

/** Converts one path segment with glob syntax to an anchored regular expression. */
function segmentRegExp(segment: string): RegExp {
  let source = '';
  for (let i = 0; i < segment.length; i++) {
    const char = segment[i];
    if (char === '*') {
      source += '[^/]*';
    } else if (char === '?') {
      source += '[^/]';
    } else if (char === '[' && segment.indexOf(']', i + 2) > i) {
      const end = segment.indexOf(']', i + 2);
      let body = segment.slice(i + 1, end);
      if (body.startsWith('!')) body = '^' + body.slice(1);
      source += `[${body.replace(/\\/g, '\\\\')}]`;
      i = end;
    } else {
      source += char.replace(/[.+^${}()|\\\]]/g, '\\$&');
    }
  }
  return new RegExp(`^${source}$`);
}

async function readFolder(folder: string): Promise<Array<{ name: string; isFolder: boolean; isFile: boolean }>> {
  try {
    const entries = await fs.readdir(folder, { withFileTypes: true });
    const result = [];
    for (const entry of entries) {
      let isFolder = entry.isDirectory();
      let isFile = entry.isFile();
      if (entry.isSymbolicLink()) {
        const target = await fs.stat(join(folder, entry.name)).catch(() => undefined);
        isFolder = target?.isDirectory() ?? false;
        isFile = target?.isFile() ?? false;
      }
      result.push({ name: entry.name, isFolder, isFile });
    }
    return result;
  } catch {
    return [];
  }
}

async function walk(folder: string, segments: string[], found: Set<string>): Promise<void> {
  if (segments.length === 0) return;
  const [segment, ...rest] = segments;

  if (segment === '**') {
    // `**` matches zero folders (try the rest here) or one more folder (descend, keeping `**`).
    await walk(folder, rest, found);
    for (const entry of await readFolder(folder)) {
      if (entry.isFolder && !entry.name.startsWith('.')) await walk(join(folder, entry.name), segments, found);
    }
    return;
  }

  if (!hasGlobSyntax(segment)) {
    const path = join(folder, segment);
    if (rest.length > 0) return walk(path, rest, found);
    const stat = await fs.stat(path).catch(() => undefined);
    if (stat?.isFile()) found.add(path);
    return;
  }

  const pattern = segmentRegExp(segment);
  for (const entry of await readFolder(folder)) {
    if (!pattern.test(entry.name)) continue;
    // As in shells, a wildcard does not match a leading dot unless the pattern starts with one.
    if (entry.name.startsWith('.') && !segment.startsWith('.')) continue;
    const path = join(folder, entry.name);
    if (rest.length > 0 && entry.isFolder) await walk(path, rest, found);
    if (rest.length === 0 && entry.isFile) found.add(path);
  }
}

/** Returns the files matching a glob pattern, sorted; an empty list when none match. */
export async function expandGlob(pattern: string): Promise<string[]> {
  const normalized = pattern.split(sep).join('/');
  const segments = normalized.split('/').filter((segment, index) => segment.length > 0 || index === 0);
  const root = isAbsolute(pattern) ? sep : '.';
  const relative = segments[0] === '' ? segments.slice(1) : segments;
  const found = new Set<string>();
  await walk(root, relative, found);
  const paths = [...found].map((path) => (isAbsolute(pattern) ? path : path.replace(/^\.\//, '')));
  return paths.sort();
}
