/**
 * Recipe problems: what a check found wrong, where it is in the source, and
 * the one RecipeError that carries all of them, so a user sees every problem
 * of a recipe in one run.
 */
import { SnaxError } from '../errors.js';

/** One thing wrong with a recipe, before it is given a source location. */
export interface RecipeProblem {
  /** Key path of the value, such as ['moe', 'active']; empty for a problem with the whole file. */
  path: string[];
  /** The value found there; undefined when the key is missing. */
  value: unknown;
  /** Description of the fault, such as "unknown key" or "out of range". */
  issue: string;
  /** The values or keys allowed. */
  allowed: string;
  fix: string;
  /** Part of the source to point at: the key of a pair, its value, or the mapping that should contain it. */
  anchor: 'key' | 'value' | 'parent';
}

/** A problem with its location: `file:line:column`, or the `--set` argument that produced the value. */
export interface LocatedProblem extends RecipeProblem {
  location: string;
}

/** The error for an invalid recipe; `problems` lists every problem found, in source order. */
export class RecipeError extends SnaxError {
  readonly problems: LocatedProblem[];

  constructor(code: 'RECIPE_INVALID' | 'RECIPE_SYNTAX', sourceName: string, problems: LocatedProblem[]) {
    const single = problems.length === 1;
    const header = single
      ? `invalid recipe ${sourceName}:`
      : `invalid recipe ${sourceName}: ${problems.length} problems`;
    const lines = problems.map((problem) => formatProblem(problem, !single));
    super(code, single ? `${header} ${lines[0]}` : [header, ...lines.map((line) => `  ${line}`)].join('\n'), {
      fix: single ? problems[0].fix : 'fix each problem listed above, then run `snax recipe validate` again',
    });
    this.name = 'RecipeError';
    this.problems = problems;
  }
}

/** Formats a problem on one line: location, key path, value, issue, allowed values and, when asked, the fix. */
export function formatProblem(problem: LocatedProblem, withFix: boolean): string {
  const fix = withFix ? ` Fix: ${problem.fix}` : '';
  if (problem.path.length === 0) return `${problem.location}: ${problem.issue}; allowed: ${problem.allowed}.${fix}`;
  const value = problem.value === undefined ? ' (missing)' : ` = ${showValue(problem.value)}`;
  return `${problem.location}: ${problem.path.join('.')}${value}: ${problem.issue}; allowed: ${problem.allowed}.${fix}`;
}

/** Shows a value as compact JSON, cut to 60 characters. */
export function showValue(value: unknown): string {
  const text = typeof value === 'number' && !Number.isFinite(value) ? String(value) : JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** Levenshtein edit distance between two strings. */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min(previous[j] + 1, current[j - 1] + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length];
}

/**
 * Returns the allowed key closest to `key` by edit distance, or undefined when
 * none is close: the distance must be at most max(2, a third of the key's length).
 */
export function closestKey(key: string, allowed: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of allowed) {
    const distance = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(key.length / 3)) ? best : undefined;
}

/** The problem for a key that the schema does not allow, with a did-you-mean fix. */
export function unknownKeyProblem(path: string[], value: unknown, allowed: readonly string[], via = ''): RecipeProblem {
  const key = path[path.length - 1];
  const parent = path.slice(0, -1).join('.') || 'the top level';
  const suggestion = closestKey(key, allowed);
  const fix = suggestion !== undefined
    ? `did you mean "${suggestion}"? Rename "${key}" to "${suggestion}"${via}`
    : `remove "${key}"${via}; ${parent} takes only the keys listed`;
  return {
    path,
    value,
    issue: `unknown key in ${parent}`,
    allowed: allowed.length > 0 ? allowed.join(', ') : 'no keys (not a mapping)',
    fix,
    anchor: 'key',
  };
}
