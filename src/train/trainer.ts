/**
 * The training loop. Its shape is fixed: schedule, eval and checkpoint,
 * micro-batches, clip, step, log, stop. Everything a run needs is checked
 * before the model is allocated: the output folder is writable, the shards
 * exist and are long enough, and a checkpoint to resume from is complete.
 *
 * This module has no terminal output of its own; callers pass events (the
 * CLI draws a progress bar from them, tests collect them).
 */
import { Transformer } from '../model/transformer.js';
import { modelParamSpecs, ParamStore } from '../model/params.js';
import type { Recipe } from '../recipe/types.js';
import { SnaxError } from '../errors.js';
import { joinPath, storageFor } from '../storage/storage.js';
import { latestCheckpoint, listCheckpoints, loadCheckpoint, pruneCheckpoints, saveCheckpoint, type CheckpointState } from '../storage/checkpoint.js';
import { existsSync } from 'node:fs';
import { rmdir } from 'node:fs/promises';
import { TokenDataset, WindowSampler } from '../data/dataset.js';
import { ensureData } from './data.js';
import { evaluate } from './evaluate.js';
import { learningRate } from './schedule.js';
import { AdamW } from './optimizer.js';
import { MetricsSink, type MetricRecord } from './metrics.js';
import { checkpointTensors, restoreTensors } from './state.js';
import { checkTrainingMemory } from '../model/memory.js';
import { tileSize } from '../native/core.js';

export interface RunInfo {
  recipe: Recipe;
  startStep: number;
  totalSteps: number;
  parameters: number;
  tokensPerStep: number;
  resumedFrom: string | null;
  metricsPath: string;
  trainTokens: number;
  valTokens: number;
  /** Bytes allocated at start-up, estimated before allocation (see model/memory.ts). */
  estimatedBytes: number;
}

export interface StepEvent {
  step: number;
  totalSteps: number;
  loss: number;
  tokensPerSecond: number;
  record: MetricRecord;
  logged: boolean;
}

export interface EvalEvent {
  step: number;
  loss: number;
  perplexity: number;
}

export interface TrainEvents {
  start?(info: RunInfo): void;
  step?(event: StepEvent): void;
  eval?(event: EvalEvent): void;
  checkpoint?(path: string, step: number): void;
  note?(message: string): void;
}

export interface TrainOptions {
  resume: boolean;
  /** Polled once per step; when it returns true the run saves a checkpoint and stops. */
  shouldStop?: () => boolean;
}

export interface TrainSummary {
  steps: number;
  finalStep: number;
  stopped: boolean;
  trainLoss: number | null;
  valLoss: number | null;
  valPerplexity: number | null;
  tokensSeen: number;
  tokensPerSecond: number;
  checkpoint: string | null;
  metricsPath: string;
  losses: number[];
}

/** Trains the model of `recipe` and returns a summary of the run. */
export async function train(recipe: Recipe, options: TrainOptions, events: TrainEvents = {}): Promise<TrainSummary> {
  const { seq_len: S } = recipe.model;
  const { batch_size: B, grad_accum: accum, steps: totalSteps, seed } = recipe.train;
  const tokensPerStep = B * S * accum;

  // checks before any allocation
  const { trainData, valData, resumeState, resumedFrom, memory } = await checkRun(recipe, options, events);

  // allocation
  const params = new ParamStore(modelParamSpecs(recipe));
  const optimizer = new AdamW(params, recipe);
  const sampler = new WindowSampler(trainData, S, B, seed);
  let step = 0;
  let tokensSeen = 0;
  if (resumeState) {
    restoreTensors(resumeState, params, optimizer, resumedFrom!, recipe);
    step = resumeState.step;
    tokensSeen = resumeState.tokensSeen;
    optimizer.step = step;
    sampler.restore(resumeState.dataPosition as ReturnType<WindowSampler['state']>);
  } else {
    params.initialise(seed);
  }
  if (resumeState && step >= totalSteps) {
    events.note?.(`checkpoint ${resumedFrom} is at step ${step}, already at or past train.steps=${totalSteps}; nothing to train (raise train.steps to continue)`);
    return {
      steps: totalSteps,
      finalStep: step,
      stopped: false,
      trainLoss: null,
      valLoss: null,
      valPerplexity: null,
      tokensSeen,
      tokensPerSecond: 0,
      checkpoint: resumedFrom,
      metricsPath: joinPath(recipe.output, 'metrics.jsonl'),
      losses: [],
    };
  }
  const model = new Transformer(recipe, params, B);
  const metrics = new MetricsSink(recipe.output);
  const metricsNote = await metrics.open(resumeState ? step : null);
  if (metricsNote) events.note?.(metricsNote);
  warnAboutRounding(recipe, events.note);

  events.start?.({
    recipe,
    startStep: step,
    totalSteps,
    parameters: params.count(),
    tokensPerStep,
    resumedFrom,
    metricsPath: metrics.path,
    trainTokens: trainData.tokenCount,
    valTokens: valData.tokenCount,
    estimatedBytes: memory.totalBytes,
  });

  const losses: number[] = [];
  let lastTrainLoss: number | null = null;
  let lastVal: EvalEvent | null = null;
  let lastCheckpoint: string | null = resumedFrom;
  let lastCheckpointStep = resumeState ? step : -1;
  let stopped = false;
  let timeSpent = 0;
  let tokensTimed = 0;

  const saveNow = async (): Promise<void> => {
    if (lastCheckpointStep === step) return;
    const path = await saveCheckpoint(recipe.output, {
      step,
      tokensSeen,
      dataPosition: sampler.state(),
      rng: { seed, note: 'training draws no random numbers after initialisation; the data order is in dataPosition' },
      recipe,
      ...checkpointTensors(params, optimizer),
    });
    lastCheckpoint = path;
    lastCheckpointStep = step;
    events.checkpoint?.(path, step);
    await pruneCheckpoints(recipe.output, recipe.checkpoint.keep);
  };

  const runEval = async (): Promise<void> => {
    const result = evaluate(model, valData, recipe.eval.batches);
    lastVal = { step, loss: result.loss, perplexity: Math.exp(result.loss) };
    metrics.write({ step, 'loss/val': result.loss, 'perplexity/val': lastVal.perplexity, 'tokens/seen': tokensSeen });
    await metrics.flush();
    events.eval?.(lastVal);
  };

  while (step < totalSteps) {
    // schedule
    const lr = learningRate(recipe, step, totalSteps);
    const started = process.hrtime.bigint();

    // micro-batches
    params.zeroGrads();
    let lossSum = 0;
    let summary = null;
    for (let micro = 0; micro < accum; micro++) {
      const batch = sampler.nextBatch();
      const result = model.forward(batch.inputs, batch.targets, true, accum);
      model.backward();
      lossSum += result.loss;
      summary = { moe: result.moe, activationBytes: result.activationBytes };
    }
    const loss = lossSum / accum;
    if (!Number.isFinite(loss)) {
      throw new SnaxError('LOSS_NOT_FINITE', `training loss is ${loss} at step ${step + 1}`, {
        fix: 'lower optim.lr, raise schedule.warmup_steps, or set optim.grad_clip; resume from the last checkpoint with --resume',
      });
    }

    // clip and step
    const gradNorm = optimizer.update(lr);
    step++;
    tokensSeen += tokensPerStep;
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    timeSpent += seconds;
    tokensTimed += tokensPerStep;
    losses.push(loss);
    lastTrainLoss = loss;

    // log
    const logged = step % recipe.log.every === 0 || step === totalSteps;
    const moe = summary!.moe;
    const record: MetricRecord = {
      step,
      'loss/train': loss,
      'optim/lr': lr,
      'optim/grad_norm': gradNorm,
      'throughput/tokens_per_s': tokensPerStep / seconds,
      'time/step_s': seconds,
      'tokens/seen': tokensSeen,
      'memory/activation_bytes': summary!.activationBytes,
      'memory/moe_saved_bytes': moe.savedBytes,
      'memory/moe_peak_temporary_bytes': moe.peakTemporaryBytes,
      'moe/min_load': moe.minLoad,
      'moe/max_load': moe.maxLoad,
      'moe/mean_load': moe.meanLoad,
      'moe/dropped_tokens': moe.droppedTokens,
      'moe/added_tokens': moe.addedTokens,
      'moe/tokens_without_expert': moe.tokensWithoutExpert,
      'moe/padding_waste': moe.paddingWaste,
      'moe/padding_waste_unrounded': moe.paddingWasteUnrounded,
      'moe/balance_loss': moe.balanceLoss,
      'moe/z_loss': moe.zLoss,
    };
    if (logged) {
      metrics.write(record);
      await metrics.flush();
    }
    events.step?.({ step, totalSteps, loss, tokensPerSecond: tokensPerStep / seconds, record, logged });

    // eval and checkpoint
    if (recipe.eval.every > 0 && step % recipe.eval.every === 0 && step < totalSteps) await runEval();
    if (recipe.checkpoint.every > 0 && step % recipe.checkpoint.every === 0 && step < totalSteps) await saveNow();

    // stop
    if (options.shouldStop?.()) {
      stopped = true;
      events.note?.(`stop requested at step ${step}; saving a checkpoint`);
      break;
    }
    // Let signal handlers and timers run between steps.
    await new Promise((resolve) => setImmediate(resolve));
  }

  if (!stopped) await runEval();
  await saveNow();
  await metrics.flush();
  const finalVal = lastVal as EvalEvent | null;
  return {
    steps: totalSteps,
    finalStep: step,
    stopped,
    trainLoss: lastTrainLoss,
    valLoss: finalVal ? finalVal.loss : null,
    valPerplexity: finalVal ? finalVal.perplexity : null,
    tokensSeen,
    tokensPerSecond: timeSpent > 0 ? tokensTimed / timeSpent : 0,
    checkpoint: lastCheckpoint,
    metricsPath: metrics.path,
    losses,
  };
}


/**
 * Notes when the rounding tile is larger than an expert's mean token count:
 * `down` and `nearest` then drop most pairs, and `up` pads most of each tile.
 */
function warnAboutRounding(recipe: Recipe, note?: (message: string) => void): void {
  const { rounding, experts, active } = recipe.moe;
  if (rounding === 'none') return;
  const tile = recipe.moe.tile > 0 ? recipe.moe.tile : tileSize();
  const meanTokens = (recipe.train.batch_size * recipe.model.seq_len * active) / experts;
  if (tile > meanTokens) {
    note?.(
      `moe.rounding=${rounding} with moe.tile=${tile}, but an expert receives ${meanTokens.toFixed(1)} tokens on average per micro-batch; ` +
        'most pairs will be dropped (down, nearest) or padded (up). Raise train.batch_size or lower moe.tile.',
    );
  }
}

/** Lists the recipe keys whose values differ from a checkpoint's recipe, as "key: old -> new" (output is skipped). */
function changedSettings(saved: unknown, current: Recipe): string[] {
  const changes: string[] = [];
  const walk = (before: unknown, now: unknown, path: string): void => {
    if (path === 'output') return;
    if (now !== null && typeof now === 'object' && !Array.isArray(now)) {
      const beforeObject = before !== null && typeof before === 'object' ? (before as Record<string, unknown>) : {};
      for (const [key, value] of Object.entries(now as Record<string, unknown>)) walk(beforeObject[key], value, path ? `${path}.${key}` : key);
      return;
    }
    if (JSON.stringify(before) !== JSON.stringify(now)) changes.push(`${path}: ${JSON.stringify(before)} -> ${JSON.stringify(now)}`);
  };
  walk(saved, current, '');
  return changes;
}

interface CheckedRun {
  trainData: TokenDataset;
  valData: TokenDataset;
  resumeState: CheckpointState | null;
  resumedFrom: string | null;
  memory: ReturnType<typeof checkTrainingMemory>;
}

/**
 * Runs every check that needs no model: output folder, existing run, data,
 * checkpoint to resume, memory. When a check fails and this call created the
 * (local) output folder, the folder is removed again if it is still empty.
 */
async function checkRun(recipe: Recipe, options: TrainOptions, events: TrainEvents): Promise<CheckedRun> {
  const local = !recipe.output.startsWith('s3://');
  const outputExisted = local && existsSync(recipe.output);
  try {
    return await checkRunInFolder(recipe, options, events);
  } catch (error) {
    if (local && !outputExisted) await rmdir(recipe.output).catch(() => undefined); // fails unless empty
    throw error;
  }
}

async function checkRunInFolder(recipe: Recipe, options: TrainOptions, events: TrainEvents): Promise<CheckedRun> {
  const S = recipe.model.seq_len;
  await storageFor(recipe.output).ensureWritable(recipe.output);
  const existing = await listCheckpoints(recipe.output);
  if (!options.resume && existing.some((checkpoint) => checkpoint.complete)) {
    throw new SnaxError('RUN_EXISTS', `output folder ${recipe.output} already has checkpoints (newest: step ${Math.max(...existing.map((c) => c.step))})`, {
      fix: 'pass --resume to continue that run, or set another output folder (for example --set output=runs/new-name)',
    });
  }
  await ensureData(recipe, events.note);
  const trainData = await TokenDataset.open(recipe.data.dir, 'train', recipe.model.vocab_size);
  const valData = await TokenDataset.open(recipe.data.dir, 'val', recipe.model.vocab_size);
  for (const [split, dataset] of [['train', trainData], ['val', valData]] as const) {
    if (dataset.tokenCount < S + 1) {
      throw new SnaxError('DATA_TOO_SHORT', `the ${split} split of ${recipe.data.dir} has ${dataset.tokenCount} tokens, fewer than model.seq_len + 1 = ${S + 1}`, {
        fix: 'lower model.seq_len or add more text to the data',
      });
    }
  }
  let resumeState: CheckpointState | null = null;
  let resumedFrom: string | null = null;
  if (options.resume) {
    resumedFrom = await latestCheckpoint(recipe.output);
    if (resumedFrom) {
      resumeState = await loadCheckpoint(resumedFrom);
      const changed = changedSettings(resumeState.recipe, recipe);
      if (changed.length > 0) events.note?.(`resuming with settings that differ from the checkpoint's recipe: ${changed.join(', ')}`);
    } else {
      events.note?.(`no complete checkpoint in ${recipe.output}; starting from step 0`);
    }
  }

  const memory = checkTrainingMemory(recipe);

  return { trainData, valData, resumeState, resumedFrom, memory };
}
