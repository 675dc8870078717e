/**
 * Conversion between SNaX's interleaved SwiGLU layout and the split layout
 * most other code uses. SNaX stores each expert's up-projection as
 * w1 (2N x D) with row 2j the gate of unit j and row 2j+1 its up row, so the
 * fused epilogue sees each pair side by side. The split layout puts all N
 * gate rows first, then all N up rows (w_gate and w_up concatenated).
 */

/**
 * Converts w1 from interleaved to split row order. Works on any number of
 * stacked matrices (E experts, or 1 for a dense layer) of 2N x D each.
 */
export function interleavedToSplit(w1_E2ND: Float32Array, units: number, width: number): Float32Array {
  return reorderRows(w1_E2ND, units, width, (j, up) => (up ? units + j : j), (j, up) => 2 * j + (up ? 1 : 0));
}

/** Converts w1 from split (gates, then ups) to interleaved row order; the inverse of interleavedToSplit. */
export function splitToInterleaved(w1_E2ND: Float32Array, units: number, width: number): Float32Array {
  return reorderRows(w1_E2ND, units, width, (j, up) => 2 * j + (up ? 1 : 0), (j, up) => (up ? units + j : j));
}

function reorderRows(
  source: Float32Array,
  units: number,
  width: number,
  targetRow: (unit: number, up: boolean) => number,
  sourceRow: (unit: number, up: boolean) => number,
): Float32Array {
  const matrixSize = 2 * units * width;
  if (units < 1 || width < 1 || source.length % matrixSize !== 0) {
    throw new RangeError(`w1 has ${source.length} elements, not a whole number of 2*${units} x ${width} matrices`);
  }
  const out = new Float32Array(source.length);
  for (let base = 0; base < source.length; base += matrixSize) {
    for (let unit = 0; unit < units; unit++) {
      for (const up of [false, true]) {
        const from = base + sourceRow(unit, up) * width;
        out.set(source.subarray(from, from + width), base + targetRow(unit, up) * width);
      }
    }
  }
  return out;
}
