import { Args, Flags } from '@oclif/core';
import { Worker } from 'node:worker_threads';
import cliProgress from 'cli-progress';
import { SnaxCommand } from '../cli/base.js';
import { formatBytes, settingsTable, trainingSettings } from '../cli/report.js';
import { SnaxError } from '../errors.js';
import { numThreads } from '../native/core.js';
import { loadRecipe } from '../recipe/load.js';
import type { EvalEvent, RunInfo, StepEvent, TrainSummary } from '../train/trainer.js';
import type { WorkerMessage } from '../train/worker.js';

export default class Train extends SnaxCommand {
  static override summary = 'Train a Mixture-of-Experts language model from a YAML recipe.';

  static override description =
    'Validates the recipe, prepares its data if needed, then trains with a progress bar. ' +
    'Metrics go to <output>/metrics.jsonl and checkpoints to <output>/checkpoints/. ' +
    'Ctrl-C or SIGTERM saves a checkpoint and exits; --resume continues from the newest complete checkpoint.';

  static override examples = [
    '<%= config.bin %> train recipes/brown-tiny.yaml',
    '<%= config.bin %> train recipes/smoke.yaml --set train.steps=100 --set moe.rounding=up',
    '<%= config.bin %> train recipes/brown-tiny.yaml --resume',
  ];

  static override args = {
    recipe: Args.string({ description: 'path to the YAML recipe', required: true }),
  };

  static override flags = {
    set: Flags.string({
      description: 'override a recipe key before validation, as path=value (repeatable), e.g. --set optim.lr=1e-3',
      multiple: true,
      helpValue: 'PATH=VALUE',
    }),
    resume: Flags.boolean({ description: 'continue from the newest complete checkpoint in the output folder', default: false }),
  };

  async run(): Promise<unknown> {
    const { args, flags } = await this.parse(Train);
    const recipe = await loadRecipe(args.recipe, flags.set ?? []);
    numThreads(); // loads the addon here, so a bad SNAX_NUM_THREADS fails before the worker starts
    const json = this.jsonEnabled();
    const interactive = !json && process.stderr.isTTY === true;

    const stopFlag = new SharedArrayBuffer(4);
    const stop = new Int32Array(stopFlag);
    const worker = new Worker(new URL('../train/worker.js', import.meta.url), { workerData: { recipe, resume: flags.resume, stopFlag } });
    let stopRequests = 0;
    const onSignal = (signal: string): void => {
      stopRequests++;
      if (stopRequests > 1) {
        this.logToStderr(`${signal} again: exiting without a checkpoint`);
        process.exit(130);
      }
      this.logToStderr(`\n${signal}: saving a checkpoint at the end of this step (press Ctrl-C again to exit at once)`);
      Atomics.store(stop, 0, 1);
    };
    const onInt = () => onSignal('SIGINT');
    const onTerm = () => onSignal('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);

    // One bar for the whole run. MultiBar.log prints eval and checkpoint lines
    // above the bar without restarting it, so its ETA stays meaningful.
    let progress: cliProgress.MultiBar | null = null;
    let bar: cliProgress.SingleBar | null = null;
    const print = (line: string): void => {
      if (json) return;
      if (progress) {
        progress.log(line + '\n');
        progress.update(); // MultiBar.stop() drops unflushed log lines, so flush now
      } else {
        this.log(line);
      }
    };

    try {
      const summary = await new Promise<TrainSummary>((resolve, reject) => {
        let info: RunInfo | null = null;
        worker.on('message', (message: WorkerMessage) => {
          switch (message.type) {
            case 'start': {
              info = message.info as RunInfo;
              if (!json) {
                this.log(settingsTable(trainingSettings(recipe, info.parameters, info.startStep, info.resumedFrom)));
                this.log(`data: ${info.trainTokens} train tokens, ${info.valTokens} val tokens; memory: about ${formatBytes(info.estimatedBytes)}; metrics: ${info.metricsPath}`);
              }
              break;
            }
            case 'step': {
              const event = message.event as StepEvent;
              if (interactive) {
                if (!progress || !bar) {
                  progress = new cliProgress.MultiBar(
                    { format: 'step {value}/{total} |{bar}| loss {loss} | {tps} tok/s | ETA {eta_formatted}', hideCursor: true, stream: process.stderr },
                    cliProgress.Presets.shades_classic,
                  );
                  bar = progress.create(event.totalSteps, event.step - 1, { loss: '-', tps: '-' });
                }
                bar.update(event.step, { loss: event.loss.toFixed(4), tps: Math.round(event.tokensPerSecond) });
              } else if (!json && event.logged) {
                const record = event.record;
                this.log(
                  `step ${String(event.step).padStart(6)}/${event.totalSteps} | loss ${event.loss.toFixed(4)} | lr ${Number(record['optim/lr']).toExponential(2)}` +
                    ` | grad ${Number(record['optim/grad_norm']).toFixed(3)} | ${String(Math.round(event.tokensPerSecond)).padStart(7)} tok/s` +
                    ` | act ${formatBytes(Number(record['memory/activation_bytes']))}`,
                );
              }
              break;
            }
            case 'eval': {
              const event = message.event as EvalEvent;
              print(`eval  step ${event.step}: val loss ${event.loss.toFixed(4)}, perplexity ${event.perplexity.toFixed(2)}`);
              break;
            }
            case 'checkpoint':
              print(`checkpoint step ${message.step}: ${message.path}`);
              break;
            case 'note':
              print(message.message);
              break;
            case 'done':
              resolve(message.summary as TrainSummary);
              break;
            case 'error':
              reject(
                message.code === 'INTERNAL_ERROR'
                  ? Object.assign(new Error(message.message), { stack: message.stack ?? undefined })
                  : new SnaxError(message.code, message.message, { fix: message.fix ?? undefined }),
              );
              break;
          }
        });
        worker.on('error', reject);
        worker.on('exit', (code) => {
          if (code !== 0) reject(new SnaxError('WORKER_EXITED', `the training worker exited with code ${code}`));
        });
      });
      (progress as cliProgress.MultiBar | null)?.stop();
      progress = null;
      const { losses, ...result } = summary;
      if (!json) {
        this.log(
          `${summary.stopped ? 'stopped' : 'done'} at step ${summary.finalStep}: train loss ${summary.trainLoss?.toFixed(4) ?? '-'}` +
            `, val loss ${summary.valLoss?.toFixed(4) ?? '-'}, ${Math.round(summary.tokensPerSecond)} tok/s; checkpoint ${summary.checkpoint ?? '-'}`,
        );
      }
      return { ...result, trainLosses: losses };
    } finally {
      (progress as cliProgress.MultiBar | null)?.stop();
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      await worker.terminate();
    }
  }
}
