/**
 * The base class of every snax command: `--json` support and one place that
 * turns a SnaxError into a short message with its fix and exit code 1.
 * Commands stay thin: they parse flags, call a module and print.
 */
import { Command } from '@oclif/core';
import { SnaxError } from '../errors.js';

export abstract class SnaxCommand extends Command {
  static override enableJsonFlag = true;

  protected override async catch(error: Error & { exitCode?: number }): Promise<unknown> {
    if (error instanceof SnaxError) {
      if (this.jsonEnabled()) {
        this.logJson({ error: { code: error.code, message: error.message, fix: error.fix ?? null } });
      } else {
        this.logToStderr(`error [${error.code}]: ${error.describe()}`);
      }
      this.exit(1);
    }
    const exitCode = (error as { oclif?: { exit?: number } }).oclif?.exit;
    if (this.jsonEnabled() && exitCode !== 0) {
      // Flag-parsing and other errors get the same short JSON shape, never oclif's internals.
      this.logJson({ error: { code: exitCode === 2 ? 'USAGE_ERROR' : 'INTERNAL_ERROR', message: error.message, fix: `run \`snax ${this.id ?? ''} --help\` for the flags and examples` } });
      this.exit(exitCode ?? 1);
    }
    return super.catch(error);
  }
}
