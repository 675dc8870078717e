/**
 * The recipe JSON Schema (schemas/recipe.schema.json): loading, compiling it
 * with ajv, and walking it to name the keys and values allowed at a path.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

/** The subset of JSON Schema that the recipe schema uses. */
export interface SchemaNode {
  description?: string;
  type?: string;
  enum?: unknown[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  minItems?: number;
  required?: string[];
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
}

let cachedSchema: SchemaNode | undefined;
let cachedValidator: ValidateFunction | undefined;

/** Finds the package root: the nearest folder above this module that has a package.json. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`package.json not found above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
  return dir;
}

/** Absolute path of the recipe schema file. */
export function recipeSchemaPath(): string {
  return join(packageRoot(), 'schemas', 'recipe.schema.json');
}

/** Reads the recipe schema once and keeps it. */
export function recipeSchema(): SchemaNode {
  cachedSchema ??= JSON.parse(readFileSync(recipeSchemaPath(), 'utf8')) as SchemaNode;
  return cachedSchema;
}

/**
 * Compiles the recipe schema once; the validator collects every error, not
 * just the first. strictRequired is off because the either-or rules use
 * `required` inside `not`, where the property list is the parent's.
 */
export function recipeValidator(): ValidateFunction {
  if (cachedValidator === undefined) {
    const ajv = new Ajv2020.default({ allErrors: true, strict: true, strictRequired: false, useDefaults: false });
    addFormats.default(ajv);
    cachedValidator = ajv.compile(recipeSchema());
  }
  return cachedValidator;
}

/** Returns the schema of the value at a key path (a list item by its index), or undefined when no such key is allowed. */
export function schemaAt(path: readonly string[]): SchemaNode | undefined {
  let node: SchemaNode | undefined = recipeSchema();
  for (const key of path) {
    node = node?.type === 'array' && /^\d+$/.test(key) ? node.items : node?.properties?.[key];
    if (node === undefined) return undefined;
  }
  return node;
}

/** Keys allowed in the object at a key path (empty when that value is not an object). */
export function allowedKeys(path: readonly string[]): string[] {
  return Object.keys(schemaAt(path)?.properties ?? {});
}

/** Describes in words the values a schema node allows, such as "an integer >= 1". */
export function describeAllowed(node: SchemaNode | undefined): string {
  if (node === undefined) return 'no value (unknown key)';
  if (node.enum !== undefined) return `one of ${node.enum.map((value) => JSON.stringify(value)).join(', ')}`;

  const bounds: string[] = [];
  if (node.minimum !== undefined) bounds.push(`>= ${node.minimum}`);
  if (node.exclusiveMinimum !== undefined) bounds.push(`> ${node.exclusiveMinimum}`);
  if (node.maximum !== undefined) bounds.push(`<= ${node.maximum}`);
  if (node.exclusiveMaximum !== undefined) bounds.push(`< ${node.exclusiveMaximum}`);
  const range = bounds.length > 0 ? ` ${bounds.join(' and ')}` : '';

  switch (node.type) {
    case 'integer':
      return `an integer${range}`;
    case 'number':
      return `a number${range}`;
    case 'boolean':
      return 'true or false';
    case 'string':
      return node.minLength !== undefined && node.minLength > 0 ? 'a non-empty string' : 'a string';
    case 'array':
      return `a list of ${node.minItems !== undefined && node.minItems > 0 ? 'at least ' + node.minItems + ' ' : ''}${pluralType(node.items)}`;
    case 'object':
      return `a mapping with keys ${Object.keys(node.properties ?? {}).join(', ')}`;
    default:
      return 'any value';
  }
}

function pluralType(node: SchemaNode | undefined): string {
  if (node?.type === 'string') return node.minLength !== undefined && node.minLength > 0 ? 'non-empty strings' : 'strings';
  if (node?.type === 'integer') return 'integers';
  if (node?.type === 'number') return 'numbers';
  return 'values';
}
