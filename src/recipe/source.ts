/**
 * A parsed recipe document with its source positions, so that every problem
 * can point at `file:line:column`, or at the `--set` argument that produced
 * the value.
 */
import { type Document, type LineCounter, isMap, isScalar } from 'yaml';
import type { RecipeProblem } from './problems.js';

/** A problem location: the text shown to the user and an offset for sorting (overrides sort last). */
export interface Location {
  text: string;
  offset: number;
}

export class RecipeSource {
  private readonly overrides = new Map<string, string>();

  constructor(
    readonly name: string,
    readonly doc: Document,
    private readonly lineCounter: LineCounter,
  ) {}

  /** Records that the value at `path` came from the `--set` argument `argument`. */
  markOverride(path: readonly string[], argument: string): void {
    this.overrides.set(path.join('.'), argument);
  }

  /** Locates the key or value at `path`; a missing key is located at the mapping that should hold it. */
  locate(path: readonly string[], anchor: RecipeProblem['anchor']): Location {
    const override = this.overrideFor(path);
    if (override !== undefined) return { text: `--set ${override}`, offset: Number.MAX_SAFE_INTEGER };

    let node: unknown = this.doc.contents;
    let offset = rangeStart(node) ?? 0;
    for (let i = 0; i < path.length; i++) {
      if (!isMap(node)) break;
      const pair = node.items.find((item) => keyText(item.key) === path[i]);
      if (pair === undefined) break;
      const keyOffset = rangeStart(pair.key) ?? offset;
      if (i === path.length - 1 && anchor === 'key') {
        offset = keyOffset;
        break;
      }
      node = pair.value;
      offset = rangeStart(node) ?? keyOffset;
    }

    const { line, col } = this.lineCounter.linePos(offset);
    return { text: `${this.name}:${line}:${col}`, offset };
  }

  /** Finds the `--set` argument that set `path`, a key above it, or a key below it. */
  private overrideFor(path: readonly string[]): string | undefined {
    for (let length = path.length; length >= 1; length--) {
      const argument = this.overrides.get(path.slice(0, length).join('.'));
      if (argument !== undefined) return argument;
    }
    const prefix = `${path.join('.')}.`;
    for (const [key, argument] of this.overrides) {
      if (key.startsWith(prefix)) return argument;
    }
    return undefined;
  }
}

function keyText(key: unknown): string {
  return isScalar(key) ? String(key.value) : String(key);
}

function rangeStart(node: unknown): number | undefined {
  const range = (node as { range?: [number, number, number] } | null)?.range;
  return range?.[0];
}
