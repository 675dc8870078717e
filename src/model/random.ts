/**
 * A seeded random source for weight initialisation: the mulberry32
 * generator (32-bit state, integer arithmetic only, so every platform draws
 * the same numbers), with normal samples from the Box-Muller transform.
 */
export class SeededRandom {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A uniform sample in [0, 1). */
  uniform(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Fills `out` with samples from N(0, std^2). */
  fillNormal(out: Float32Array, std: number): void {
    for (let i = 0; i < out.length; i += 2) {
      const u1 = 1 - this.uniform(); // in (0, 1], so log never sees 0
      const u2 = this.uniform();
      const radius = Math.sqrt(-2 * Math.log(u1)) * std;
      out[i] = radius * Math.cos(2 * Math.PI * u2);
      if (i + 1 < out.length) out[i + 1] = radius * Math.sin(2 * Math.PI * u2);
    }
  }
}
