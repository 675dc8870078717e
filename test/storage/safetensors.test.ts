import { describe, expect, it } from 'vitest';
import { decodeSafetensors, decodeSafetensorsFile, encodeSafetensors, type Tensor } from '../../src/storage/safetensors.js';
import { makeRandom, randomArray } from '../helpers/numeric.js';

function sampleTensors(): Map<string, Tensor> {
  const random = makeRandom(3);
  return new Map<string, Tensor>([
    ['layers.0.w1_E2ND', { dtype: 'F32', shape: [2, 6, 4], data: randomArray(random, 48) }],
    ['step_counts', { dtype: 'I32', shape: [3], data: new Int32Array([-1, 0, 2 ** 31 - 1]) }],
    ['scalar', { dtype: 'F32', shape: [], data: new Float32Array([Math.PI]) }],
    ['empty', { dtype: 'F32', shape: [0, 5], data: new Float32Array(0) }],
  ]);
}

/** Builds a file by hand: length, header JSON, data bytes. */
function rawFile(header: unknown, data: Uint8Array): Buffer {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([length, json, data]);
}

describe('safetensors', () => {
  it('round-trips tensors', () => {
    const tensors = sampleTensors();
    const decoded = decodeSafetensors(encodeSafetensors(tensors), 'round.safetensors');
    expect([...decoded.keys()]).toEqual([...tensors.keys()]);
    for (const [name, tensor] of tensors) {
      expect(decoded.get(name)?.dtype).toBe(tensor.dtype);
      expect(decoded.get(name)?.shape).toEqual(tensor.shape);
      expect(decoded.get(name)?.data).toEqual(tensor.data);
    }
  });

  it('keeps NaN and infinities bit for bit', () => {
    const data = new Float32Array([NaN, Infinity, -Infinity, -0]);
    const decoded = decodeSafetensors(encodeSafetensors(new Map([['x', { dtype: 'F32', shape: [4], data }]])), 'x');
    expect(new Uint32Array(decoded.get('x')!.data.buffer)).toEqual(new Uint32Array(data.buffer));
  });

  it('round-trips metadata', () => {
    const file = decodeSafetensorsFile(encodeSafetensors(sampleTensors(), { step: '12', note: 'héllo' }), 'meta');
    expect(file.metadata).toEqual({ step: '12', note: 'héllo' });
  });

  it('writes the standard layout', () => {
    const data = new Float32Array([1, 2]);
    const buffer = encodeSafetensors(new Map([['a', { dtype: 'F32', shape: [2], data }]]));
    const headerLength = Number(buffer.readBigUInt64LE(0));
    expect(headerLength % 8).toBe(0);
    const header = JSON.parse(buffer.subarray(8, 8 + headerLength).toString('utf8'));
    expect(header).toEqual({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } });
    expect(buffer.readFloatLE(8 + headerLength + 4)).toBe(2);
  });

  it('reads a hand-written file', () => {
    const values = new Int32Array([7, 8, 9, 10, 11, 12]);
    const floats = new Float32Array([0.5]);
    const header = {
      __metadata__: { source: 'hand' },
      b: { dtype: 'F32', shape: [1], data_offsets: [24, 28] },
      a: { dtype: 'I32', shape: [2, 3], data_offsets: [0, 24] },
    };
    const data = new Uint8Array([...new Uint8Array(values.buffer), ...new Uint8Array(floats.buffer)]);
    const decoded = decodeSafetensors(rawFile(header, data), 'hand.safetensors');
    expect(decoded.get('a')?.data).toEqual(values);
    expect(decoded.get('b')?.data).toEqual(floats);
  });

  it('rejects a mismatched shape on encode', () => {
    const tensors = new Map<string, Tensor>([['w', { dtype: 'F32', shape: [2, 2], data: new Float32Array(3) }]]);
    expect(() => encodeSafetensors(tensors)).toThrow(/tensor w has shape \[2, 2\] \(4 elements\) but 3 values/);
  });

  it('rejects a wrong array type on encode', () => {
    const tensors = new Map<string, Tensor>([['w', { dtype: 'I32', shape: [1], data: new Float32Array(1) }]]);
    expect(() => encodeSafetensors(tensors)).toThrow(expect.objectContaining({ code: 'INVALID_DTYPE' }));
  });

  const corruptions: Array<[string, () => Buffer, RegExp]> = [
    ['a file shorter than 8 bytes', () => Buffer.alloc(4), /fewer than the 8-byte header length/],
    ['a header length past the end', () => { const b = encodeSafetensors(sampleTensors()); b.writeBigUInt64LE(10n ** 9n, 0); return b; }, /header length 1000000000 exceeds/],
    ['a header that is not JSON', () => { const b = encodeSafetensors(sampleTensors()); b.write('!', 8); return b; }, /not valid JSON/],
    ['a truncated data section', () => { const b = encodeSafetensors(sampleTensors()); return b.subarray(0, b.length - 4); }, /outside the \d+-byte data section/],
    ['trailing bytes', () => Buffer.concat([encodeSafetensors(sampleTensors()), Buffer.alloc(4)]), /cover \d+ bytes but the data section has \d+/],
    ['an unknown dtype', () => rawFile({ a: { dtype: 'BF16', shape: [1], data_offsets: [0, 2] } }, new Uint8Array(2)), /dtype "BF16", expected F32 or I32/],
    ['a size that disagrees with the shape', () => rawFile({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, new Uint8Array(8)), /\(12 bytes\) but data_offsets span 8 bytes/],
    ['overlapping tensors', () => rawFile({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, new Uint8Array(8)), /begins at byte 4 of the data section, expected 8/],
    ['missing offsets', () => rawFile({ a: { dtype: 'F32', shape: [1] } }, new Uint8Array(4)), /data_offsets undefined/],
  ];

  for (const [name, makeBuffer, message] of corruptions) {
    it(`rejects ${name}`, () => {
      const decode = () => decodeSafetensors(makeBuffer(), 'runs/x/model.safetensors');
      expect(decode).toThrow(expect.objectContaining({ code: 'CHECKPOINT_CORRUPT' }));
      expect(decode).toThrow('safetensors file runs/x/model.safetensors is corrupt');
      expect(decode).toThrow(message);
    });
  }
});
