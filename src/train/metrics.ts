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

  /** Loads the existing records of a resumed run on S3, so a rewrite keeps them. */
  async open(): Promise<void> {
    if (!this.remote) {
      await mkdir(dirname(this.path), { recursive: true });
      return;
    }
    const storage = storageFor(this.path);
    if (await storage.exists(this.path)) {
      const text = (await storage.readFile(this.path)).toString('utf8');
      for (const line of text.split('\n')) if (line.trim() !== '') this.lines.push(line);
    }
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
