/**
 * The metrics sink: one JSON object per record, appended to
 * <output>/metrics.jsonl. Keys are namespaced (`loss/train`,
 * `throughput/tokens_per_s`, `moe/dropped_tokens`, ...). Local files are
 * appended to; on S3, where objects cannot be appended to, the whole file is
 * rewritten on each flush.
 */
import { appendFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { joinPath, storageFor } from '../storage/storage.js';

export type MetricRecord = Record<string, number | string | null>;

export class MetricsSink {
  readonly path: string;
  private readonly remote: boolean;
  private readonly lines: string[] = [];
  private pending: string[] = [];

  constructor(outputDir: string) {
    this.path = joinPath(outputDir, 'metrics.jsonl');
    this.remote = outputDir.startsWith('s3://');
  }

  /**
   * Prepares the file for this run and returns a note when it changed
   * what an earlier run wrote. A resumed run (resumeStep set) drops the
   * records logged after its checkpoint, which the resumed run logs again.
   * A fresh run moves an earlier run's file aside (that run left no
   * complete checkpoint, or it could not start fresh here).
   */
  async open(resumeStep: number | null): Promise<string | null> {
    if (!this.remote) await mkdir(dirname(this.path), { recursive: true });
    const storage = storageFor(this.path);
    if (!(await storage.exists(this.path))) return null;
    const text = (await storage.readFile(this.path)).toString('utf8');
    const lines = text.split('\n').filter((line) => line.trim() !== '');

    if (resumeStep === null) {
      const aside = this.path.replace(/\.jsonl$/, `.before-${new Date().toISOString().replace(/[:.]/g, '-')}.jsonl`);
      await storage.writeFile(aside, text);
      await storage.remove(this.path);
      return `moved the metrics of an earlier run in this folder to ${aside}`;
    }

    const kept = lines.filter((line) => {
      try {
        const step = (JSON.parse(line) as MetricRecord).step;
        return typeof step !== 'number' || step <= resumeStep;
      } catch {
        return false; // a line cut short by a crash
      }
    });
    if (this.remote) this.lines.push(...kept);
    if (kept.length === lines.length) return null;
    await storage.writeFile(this.path, kept.length > 0 ? kept.join('\n') + '\n' : '');
    return `dropped ${lines.length - kept.length} metric records logged after the checkpoint at step ${resumeStep}`;
  }

  write(record: MetricRecord): void {
    this.pending.push(JSON.stringify(record));
  }

  async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    if (this.remote) {
      this.lines.push(...batch);
      await storageFor(this.path).writeFile(this.path, this.lines.join('\n') + '\n');
    } else {
      await appendFile(this.path, batch.join('\n') + '\n');
    }
  }
}
