/**
 * Schema validation of a raw recipe (the YAML as plain data, before
 * defaults): every ajv error becomes a RecipeProblem that names the key
 * path, the value, what is allowed and a fix. The two either-or rules (moe
 * shape form, train length) are checked here in TypeScript because ajv's
 * `oneOf` errors do not say which keys to add or remove.
 */
import type { ErrorObject } from 'ajv';
import type { RecipeProblem } from './problems.js';
import { closestKey, unknownKeyProblem } from './problems.js';
import { allowedKeys, describeAllowed, recipeValidator, schemaAt } from './schema.js';

const EXPLICIT_MOE_KEYS = ['experts', 'active', 'expert_width'] as const;

/** Validates raw recipe data against the schema and returns every problem found (empty when valid). */
export function schemaProblems(data: unknown): RecipeProblem[] {
  const validate = recipeValidator();
  validate(data);

  const problems: RecipeProblem[] = [];
  const seen = new Set<string>();
  for (const error of validate.errors ?? []) {
    if (error.schemaPath.includes('/oneOf')) continue;
    const problem = problemFromAjv(error, data);
    const id = `${problem.path.join('.')}|${error.keyword}`;
    if (seen.has(id)) continue;
    seen.add(id);
    problems.push(problem);
  }
  problems.push(...formProblems(data));
  return problems;
}

/** Returns the value at a key path of plain data, or undefined. */
export function valueAt(data: unknown, path: readonly string[]): unknown {
  let value = data;
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

function instancePath(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function problemFromAjv(error: ErrorObject, data: unknown): RecipeProblem {
  const base = instancePath(error.instancePath);
  const where = base.length > 0 ? base.join('.') : 'the top level';

  if (error.keyword === 'additionalProperties') {
    const path = [...base, String(error.params.additionalProperty)];
    return unknownKeyProblem(path, valueAt(data, path), allowedKeys(base));
  }

  if (error.keyword === 'required') {
    const key = String(error.params.missingProperty);
    const path = [...base, key];
    return {
      path,
      value: undefined,
      issue: 'required key is missing',
      allowed: describeAllowed(schemaAt(path)),
      fix: `add ${key} to ${where}`,
      anchor: 'parent',
    };
  }

  const value = valueAt(data, base);
  const allowed = describeAllowed(schemaAt(base));
  let fix = base.length > 0 ? `set ${base.join('.')} to ${allowed}` : 'write the recipe as a YAML mapping of sections';
  if (error.keyword === 'enum' && typeof value === 'string') {
    const suggestion = closestKey(value, (error.params.allowedValues as unknown[]).map(String));
    if (suggestion !== undefined) fix = `did you mean "${suggestion}"? Set ${base.join('.')} to ${suggestion}`;
  }
  return { path: base, value, issue: issueFor(error, value), allowed, fix, anchor: 'value' };
}

function issueFor(error: ErrorObject, value: unknown): string {
  switch (error.keyword) {
    case 'type':
      if (error.instancePath === '') return `the recipe is a ${typeName(value)}, not a mapping of sections`;
      return `wrong type (${typeName(value)})`;
    case 'enum':
      return 'not an allowed value';
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return 'out of range';
    case 'minItems':
      return 'list is too short';
    case 'minLength':
      return 'must not be empty';
    default:
      return error.message ?? `fails the schema rule ${error.keyword}`;
  }
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'list';
  if (typeof value === 'object') return 'mapping';
  if (typeof value === 'number' && Number.isInteger(value)) return 'integer';
  if (typeof value === 'number' && !Number.isFinite(value)) return 'not a finite number';
  return typeof value;
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Checks the either-or rules: moe takes experts, active and expert_width, or granularity. train takes steps or tokens. */
function formProblems(data: unknown): RecipeProblem[] {
  const problems: RecipeProblem[] = [];

  const moe = valueAt(data, ['moe']);
  if (isMapping(moe)) {
    const explicit = EXPLICIT_MOE_KEYS.filter((key) => key in moe);
    if ('granularity' in moe && explicit.length > 0) {
      problems.push({
        path: ['moe', 'granularity'],
        value: moe.granularity,
        issue: `given together with ${explicit.map((key) => `moe.${key}`).join(', ')}`,
        allowed: 'either experts, active and expert_width, or granularity, not both',
        fix: `remove moe.granularity, or remove ${explicit.map((key) => `moe.${key}`).join(', ')}`,
        anchor: 'key',
      });
    } else if (!('granularity' in moe)) {
      for (const key of EXPLICIT_MOE_KEYS.filter((name) => !(name in moe))) {
        problems.push({
          path: ['moe', key],
          value: undefined,
          issue: 'required key is missing (moe needs experts, active and expert_width, or granularity)',
          allowed: describeAllowed(schemaAt(['moe', key])),
          fix: `add ${key} to moe, or describe moe with granularity: {dense_width, experts, active, granularity}`,
          anchor: 'parent',
        });
      }
    }
  }

  const train = valueAt(data, ['train']);
  if (isMapping(train)) {
    if ('steps' in train && 'tokens' in train) {
      problems.push({
        path: ['train', 'tokens'],
        value: train.tokens,
        issue: 'given together with train.steps',
        allowed: 'either steps or tokens, not both',
        fix: 'remove train.tokens or train.steps',
        anchor: 'key',
      });
    } else if (!('steps' in train) && !('tokens' in train)) {
      problems.push({
        path: ['train', 'steps'],
        value: undefined,
        issue: 'required key is missing (train needs steps or tokens)',
        allowed: describeAllowed(schemaAt(['train', 'steps'])),
        fix: 'add steps (optimizer steps) or tokens (training tokens) to train',
        anchor: 'parent',
      });
    }
  }
  return problems;
}
