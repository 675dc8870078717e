import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { RECIPE_DEFAULTS } from '../../src/recipe/defaults.js';
import { closestKey, editDistance } from '../../src/recipe/problems.js';
import { recipeSchema, recipeValidator, type SchemaNode } from '../../src/recipe/schema.js';

/** Collects `default` values of the schema by dotted section path, as RECIPE_DEFAULTS lists them. */
function schemaDefaults(node: SchemaNode, path: string[] = [], out: Record<string, Record<string, unknown>> = {}) {
  for (const [key, child] of Object.entries(node.properties ?? {})) {
    if (child.default !== undefined) {
      const section = path.join('.');
      out[section] ??= {};
      out[section][key] = child.default;
    }
    if (child.properties !== undefined) schemaDefaults(child, [...path, key], out);
  }
  return out;
}

describe('recipe schema', () => {
  it('matches the defaults table', () => {
    expect(schemaDefaults(recipeSchema())).toEqual(RECIPE_DEFAULTS);
  });

  it('closes every object', () => {
    const open: string[] = [];
    const visit = (node: SchemaNode, path: string) => {
      if (node.type === 'object' && (node as { additionalProperties?: unknown }).additionalProperties !== false) open.push(path);
      for (const [key, child] of Object.entries(node.properties ?? {})) visit(child, `${path}.${key}`);
    };
    visit(recipeSchema(), '(root)');
    expect(open).toEqual([]);
  });

  it('accepts the recipe files', () => {
    const folder = join(import.meta.dirname, '..', '..', 'recipes');
    for (const file of readdirSync(folder).filter((name) => name.endsWith('.yaml'))) {
      const validate = recipeValidator();
      const valid = validate(parse(readFileSync(join(folder, file), 'utf8')));
      expect(validate.errors ?? [], file).toEqual([]);
      expect(valid, file).toBe(true);
    }
  });

  it('rejects both moe forms', () => {
    const validate = recipeValidator();
    const recipe = {
      model: { width: 8, layers: 1, heads: 2, seq_len: 4 },
      moe: { experts: 4, active: 1, expert_width: 4, granularity: { dense_width: 8, experts: 2, active: 1, granularity: 2 } },
      data: { dir: 'x' },
      train: { steps: 1, batch_size: 1 },
    };
    expect(validate(recipe)).toBe(false);
  });
});

describe('closestKey', () => {
  it('measures edit distance', () => {
    expect(editDistance('activ', 'active')).toBe(1);
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('', 'abc')).toBe(3);
  });

  it('suggests a near key', () => {
    expect(closestKey('expert_widht', ['experts', 'active', 'expert_width'])).toBe('expert_width');
  });

  it('suggests nothing for a far key', () => {
    expect(closestKey('colour', ['experts', 'active', 'expert_width'])).toBeUndefined();
  });
});
