/**
 * Turns a run's metrics.jsonl into a loss-curve SVG and a CSV, for docs/.
 *
 * Usage: node dist/bench/curve.js RUN_DIR OUT_PREFIX
 * writes OUT_PREFIX.svg (train and validation loss against step) and
 * OUT_PREFIX.csv (step, train loss, val loss, tokens/s).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

interface Point {
  step: number;
  value: number;
}

const [runDir, outPrefix] = process.argv.slice(2);
if (!runDir || !outPrefix) {
  process.stderr.write('usage: node dist/bench/curve.js RUN_DIR OUT_PREFIX\n');
  process.exit(2);
}

const records = readFileSync(join(runDir, 'metrics.jsonl'), 'utf8')
  .split('\n')
  .filter((line) => line.trim() !== '')
  .map((line) => JSON.parse(line) as Record<string, number>);
const train: Point[] = records.filter((r) => 'loss/train' in r).map((r) => ({ step: r.step, value: r['loss/train'] }));
const val: Point[] = records.filter((r) => 'loss/val' in r).map((r) => ({ step: r.step, value: r['loss/val'] }));
const speed = new Map(records.filter((r) => 'throughput/tokens_per_s' in r).map((r) => [r.step, r['throughput/tokens_per_s']]));

const rows = ['step,loss_train,loss_val,tokens_per_s'];
const valByStep = new Map(val.map((p) => [p.step, p.value]));
const steps = [...new Set([...train.map((p) => p.step), ...val.map((p) => p.step)])].sort((a, b) => a - b);
const trainByStep = new Map(train.map((p) => [p.step, p.value]));
for (const step of steps) {
  rows.push([step, trainByStep.get(step) ?? '', valByStep.get(step) ?? '', speed.has(step) ? Math.round(speed.get(step)!) : ''].join(','));
}
writeFileSync(outPrefix + '.csv', rows.join('\n') + '\n');

// SVG: a plain line chart with axes, ticks and a legend.
const width = 720;
const height = 420;
const margin = { left: 60, right: 20, top: 30, bottom: 50 };
const maxStep = Math.max(...steps);
const all = [...train, ...val].map((p) => p.value);
const yMin = Math.floor(Math.min(...all) * 2) / 2;
const yMax = Math.ceil(Math.min(Math.max(...all), 6) * 2) / 2;
const x = (step: number): number => margin.left + ((width - margin.left - margin.right) * step) / maxStep;
const y = (value: number): number => margin.top + ((height - margin.top - margin.bottom) * (yMax - Math.min(value, yMax))) / (yMax - yMin);
const path = (points: Point[]): string => points.map((p, i) => `${i === 0 ? 'M' : 'L'}${x(p.step).toFixed(1)},${y(p.value).toFixed(1)}`).join(' ');

const parts: string[] = [
  `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
  `<rect width="${width}" height="${height}" fill="white"/>`,
  `<text x="${width / 2}" y="18" text-anchor="middle" font-size="14">${runDir}: loss (nats per token)</text>`,
];
for (let value = yMin; value <= yMax + 1e-9; value += 0.5) {
  parts.push(`<line x1="${margin.left}" x2="${width - margin.right}" y1="${y(value)}" y2="${y(value)}" stroke="#ddd"/>`);
  parts.push(`<text x="${margin.left - 8}" y="${y(value) + 4}" text-anchor="end">${value.toFixed(1)}</text>`);
}
const stepTick = Math.max(1, Math.round(maxStep / 8 / 100) * 100);
for (let step = 0; step <= maxStep; step += stepTick) {
  parts.push(`<text x="${x(step)}" y="${height - margin.bottom + 18}" text-anchor="middle">${step}</text>`);
}
parts.push(`<text x="${width / 2}" y="${height - 10}" text-anchor="middle">step</text>`);
parts.push(`<line x1="${margin.left}" x2="${margin.left}" y1="${margin.top}" y2="${height - margin.bottom}" stroke="black"/>`);
parts.push(`<line x1="${margin.left}" x2="${width - margin.right}" y1="${height - margin.bottom}" y2="${height - margin.bottom}" stroke="black"/>`);
parts.push(`<path d="${path(train)}" fill="none" stroke="#1f77b4" stroke-width="1.2"/>`);
parts.push(`<path d="${path(val)}" fill="none" stroke="#d62728" stroke-width="2"/>`);
for (const p of val) parts.push(`<circle cx="${x(p.step)}" cy="${y(p.value)}" r="3" fill="#d62728"/>`);
parts.push(`<rect x="${width - 170}" y="${margin.top + 5}" width="145" height="42" fill="white" stroke="#999"/>`);
parts.push(`<line x1="${width - 160}" x2="${width - 135}" y1="${margin.top + 19}" y2="${margin.top + 19}" stroke="#1f77b4" stroke-width="2"/>`);
parts.push(`<text x="${width - 128}" y="${margin.top + 23}">train loss</text>`);
parts.push(`<line x1="${width - 160}" x2="${width - 135}" y1="${margin.top + 37}" y2="${margin.top + 37}" stroke="#d62728" stroke-width="2"/>`);
parts.push(`<text x="${width - 128}" y="${margin.top + 41}">validation loss</text>`);
parts.push('</svg>');
writeFileSync(outPrefix + '.svg', parts.join('\n') + '\n');
process.stdout.write(`wrote ${outPrefix}.svg and ${outPrefix}.csv (${train.length} train points, ${val.length} validation points)\n`);
