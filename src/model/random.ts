/**
 * Seeded normal samples for weight initialisation, drawn with the
 * Box-Muller transform from the same generator as the data pipeline
 * (data/random.ts) on a stream of their own, so every platform draws the
 * same initial weights for the same seed.
 */
import { seededRandom } from '../data/random.js';

/** The stream number that keeps initialisation apart from the data order. */
const INIT_STREAM = 1;

export class SeededRandom {
  private readonly next: () => number;

  constructor(seed: number) {
    this.next = seededRandom(seed, INIT_STREAM);
  }

  /** Fills `out` with samples from N(0, std^2). */
  fillNormal(out: Float32Array, std: number): void {
    for (let i = 0; i < out.length; i += 2) {
      const u1 = 1 - this.next(); // in (0, 1], so log never gets 0
      const u2 = this.next();
      const radius = Math.sqrt(-2 * Math.log(u1)) * std;
      out[i] = radius * Math.cos(2 * Math.PI * u2);
      if (i + 1 < out.length) out[i + 1] = radius * Math.sin(2 * Math.PI * u2);
    }
  }
}
