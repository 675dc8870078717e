/**
 * The one error family of SNaX. Every failure a user can cause (a bad recipe,
 * a bad shard, a bad native call) is a SnaxError with a stable code, a
 * message that names the value and what was expected, and an optional fix.
 */
export class SnaxError extends Error {
  readonly code: string;
  readonly fix?: string;

  constructor(code: string, message: string, options: { fix?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SnaxError';
    this.code = code;
    this.fix = options.fix;
  }

  /** Formats the message and the fix for a terminal. */
  describe(): string {
    return this.fix ? `${this.message}\n  fix: ${this.fix}` : this.message;
  }
}

/** Converts an error thrown by the native addon into a SnaxError, keeping the caller's stack. */
export function fromNative(error: unknown): SnaxError {
  if (error instanceof SnaxError) return error;
  const native = error as { code?: unknown; message?: unknown };
  const code = typeof native.code === 'string' ? native.code : 'NATIVE_ERROR';
  const message = typeof native.message === 'string' ? native.message : String(error);
  return new SnaxError(code, message, { cause: error });
}
