/**
 * The training loop in a worker thread, so that the CLI's event loop stays
 * free for the progress bar and for Ctrl-C while native kernels run. The
 * parent sets a shared flag to ask for a stop; the loop reads it once per
 * step, saves a checkpoint and ends.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { SnaxError } from '../errors.js';
import type { Recipe } from '../recipe/types.js';
import { train } from './trainer.js';

export interface WorkerInput {
  recipe: Recipe;
  resume: boolean;
  stopFlag: SharedArrayBuffer;
}

export type WorkerMessage =
  | { type: 'start'; info: unknown }
  | { type: 'step'; event: unknown }
  | { type: 'eval'; event: unknown }
  | { type: 'checkpoint'; path: string; step: number }
  | { type: 'note'; message: string }
  | { type: 'done'; summary: unknown }
  | { type: 'error'; code: string; message: string; fix: string | null; stack: string | null };

const input = workerData as WorkerInput;
const stop = new Int32Array(input.stopFlag);
const post = (message: WorkerMessage): void => parentPort!.postMessage(message);

train(input.recipe, { resume: input.resume, shouldStop: () => Atomics.load(stop, 0) === 1 }, {
  start: (info) => post({ type: 'start', info: { ...info, recipe: undefined } }),
  step: (event) => post({ type: 'step', event }),
  eval: (event) => post({ type: 'eval', event }),
  checkpoint: (path, step) => post({ type: 'checkpoint', path, step }),
  note: (message) => post({ type: 'note', message }),
}).then(
  (summary) => post({ type: 'done', summary }),
  (error: unknown) => {
    const snax = error instanceof SnaxError ? error : null;
    const plain = error as Error;
    post({
      type: 'error',
      code: snax ? snax.code : 'INTERNAL_ERROR',
      message: plain?.message ?? String(error),
      fix: snax?.fix ?? null,
      stack: snax ? null : (plain?.stack ?? null),
    });
  },
);
