/**
 * Argument checks run in TypeScript before any native call, so that a bad
 * call fails with a SnaxError that names the argument, never with a crash.
 */
import { SnaxError } from '../errors.js';

/** Throws INVALID_DTYPE unless value is a Float32Array, then SHAPE_MISMATCH unless it has `expected` elements. */
export function expectLength(name: string, value: unknown, expected: number): void {
  if (!(value instanceof Float32Array)) {
    throw new SnaxError('INVALID_DTYPE', `${name} must be a Float32Array, got ${describeType(value)}`);
  }
  if (value.length !== expected) {
    throw new SnaxError('SHAPE_MISMATCH', `${name} has ${value.length} elements, expected ${expected}`);
  }
}

/** Throws INVALID_DTYPE unless value is an Int32Array, then SHAPE_MISMATCH unless it has `expected` elements. */
export function expectInt32Length(name: string, value: unknown, expected: number): void {
  if (!(value instanceof Int32Array)) {
    throw new SnaxError('INVALID_DTYPE', `${name} must be an Int32Array, got ${describeType(value)}`);
  }
  if (value.length !== expected) {
    throw new SnaxError('SHAPE_MISMATCH', `${name} has ${value.length} elements, expected ${expected}`);
  }
}

/** Throws INVALID_ARGUMENT unless value is an integer in [min, max]. */
export function expectInteger(name: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer in [${min}, ${max}]`;
    throw new SnaxError('INVALID_ARGUMENT', `${name} must be ${range}, got ${String(value)}`);
  }
}

/** A short description of a value's type for error messages. */
export function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (ArrayBuffer.isView(value)) return value.constructor.name;
  if (Array.isArray(value)) return 'Array';
  return typeof value;
}
