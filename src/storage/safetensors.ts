/**
 * The safetensors file format, for checkpoint weights and optimizer state:
 * an 8-byte little-endian header length, a JSON header mapping each tensor
 * name to {dtype, shape, data_offsets} (plus an optional string map under
 * `__metadata__`), then the raw little-endian tensor bytes. Offsets are
 * relative to the end of the header, and the tensors cover the data section
 * without gaps or overlaps.
 *
 * Only F32 and I32 tensors are written or read; a file with other dtypes
 * (such as BF16) is rejected as CHECKPOINT_CORRUPT.
 */
import { SnaxError } from '../errors.js';

export type TensorDtype = 'F32' | 'I32';

export interface Tensor {
  dtype: TensorDtype;
  shape: number[];
  data: Float32Array | Int32Array;
}

export interface SafetensorsFile {
  tensors: Map<string, Tensor>;
  metadata: Record<string, string>;
}

interface HeaderEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

const METADATA_KEY = '__metadata__';
/** The maximum header size the reference implementation accepts (100 MB). */
const MAX_HEADER_BYTES = 100_000_000;

function elementCount(shape: number[]): number {
  return shape.reduce((product, size) => product * size, 1);
}

/** Throws INVALID_ARGUMENT unless the tensor's dtype, array type and shape agree. */
function checkTensor(name: string, tensor: Tensor): void {
  const { dtype, shape, data } = tensor;
  if (dtype !== 'F32' && dtype !== 'I32') {
    throw new SnaxError('INVALID_DTYPE', `tensor ${name} has dtype ${String(dtype)}, expected F32 or I32`);
  }
  const expectedArray = dtype === 'F32' ? Float32Array : Int32Array;
  if (!(data instanceof expectedArray)) {
    throw new SnaxError('INVALID_DTYPE', `tensor ${name} has dtype ${dtype} but its data is a ${data?.constructor?.name}, expected ${expectedArray.name}`);
  }
  if (!Array.isArray(shape) || !shape.every((size) => Number.isInteger(size) && size >= 0)) {
    throw new SnaxError('SHAPE_MISMATCH', `tensor ${name} has shape ${JSON.stringify(shape)}, expected a list of non-negative integers`);
  }
  if (elementCount(shape) !== data.length) {
    throw new SnaxError('SHAPE_MISMATCH', `tensor ${name} has shape [${shape.join(', ')}] (${elementCount(shape)} elements) but ${data.length} values`);
  }
}

/** Encodes tensors (in map order) and optional string metadata as one safetensors file. */
export function encodeSafetensors(tensors: Map<string, Tensor>, metadata?: Record<string, string>): Buffer {
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) header[METADATA_KEY] = metadata;
  let offset = 0;
  for (const [name, tensor] of tensors) {
    if (name === METADATA_KEY) throw new SnaxError('INVALID_ARGUMENT', `tensor name ${METADATA_KEY} is reserved by the safetensors format`);
    checkTensor(name, tensor);
    const bytes = tensor.data.byteLength;
    header[name] = { dtype: tensor.dtype, shape: tensor.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }

  // Pad the header with spaces to a multiple of 8 bytes, so tensor data is aligned.
  let headerText = JSON.stringify(header);
  const headerBytes = Buffer.byteLength(headerText, 'utf8');
  headerText += ' '.repeat((8 - (headerBytes % 8)) % 8);
  const headerBuffer = Buffer.from(headerText, 'utf8');

  const file = Buffer.alloc(8 + headerBuffer.length + offset);
  file.writeBigUInt64LE(BigInt(headerBuffer.length), 0);
  headerBuffer.copy(file, 8);
  let position = 8 + headerBuffer.length;
  for (const tensor of tensors.values()) {
    const bytes = new Uint8Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength);
    file.set(bytes, position);
    position += bytes.length;
  }
  return file;
}

function corrupt(sourceName: string, problem: string): SnaxError {
  return new SnaxError('CHECKPOINT_CORRUPT', `safetensors file ${sourceName} is corrupt: ${problem}`, {
    fix: 'restore the file from a copy, or load an earlier checkpoint',
  });
}

function parseEntry(sourceName: string, name: string, value: unknown, dataBytes: number): HeaderEntry {
  const entry = value as Partial<HeaderEntry> | null;
  if (entry === null || typeof entry !== 'object') throw corrupt(sourceName, `header entry ${name} is not an object`);
  if (entry.dtype !== 'F32' && entry.dtype !== 'I32') {
    throw corrupt(sourceName, `tensor ${name} has dtype ${JSON.stringify(entry.dtype)}, expected F32 or I32`);
  }
  const shape = entry.shape;
  if (!Array.isArray(shape) || !shape.every((size) => Number.isSafeInteger(size) && size >= 0)) {
    throw corrupt(sourceName, `tensor ${name} has shape ${JSON.stringify(shape)}, expected a list of non-negative integers`);
  }
  const offsets = entry.data_offsets;
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((value) => Number.isSafeInteger(value) && value >= 0)) {
    throw corrupt(sourceName, `tensor ${name} has data_offsets ${JSON.stringify(offsets)}, expected [begin, end]`);
  }
  const [begin, end] = offsets;
  if (begin > end || end > dataBytes) {
    throw corrupt(sourceName, `tensor ${name} has data_offsets [${begin}, ${end}] outside the ${dataBytes}-byte data section`);
  }
  if (end - begin !== elementCount(shape) * 4) {
    throw corrupt(sourceName, `tensor ${name} has shape [${shape.join(', ')}] (${elementCount(shape) * 4} bytes) but data_offsets span ${end - begin} bytes`);
  }
  return { dtype: entry.dtype, shape, data_offsets: [begin, end] };
}

/** Decodes a safetensors file with its metadata; `sourceName` names the file in CHECKPOINT_CORRUPT errors. */
export function decodeSafetensorsFile(buffer: Buffer, sourceName: string): SafetensorsFile {
  if (buffer.length < 8) throw corrupt(sourceName, `it has ${buffer.length} bytes, fewer than the 8-byte header length`);
  const headerLength = buffer.readBigUInt64LE(0);
  if (headerLength > BigInt(Math.min(buffer.length - 8, MAX_HEADER_BYTES))) {
    throw corrupt(sourceName, `its header length ${headerLength} exceeds the ${buffer.length - 8} bytes after the length field`);
  }
  const headerEnd = 8 + Number(headerLength);
  const dataBytes = buffer.length - headerEnd;

  let header: unknown;
  try {
    header = JSON.parse(buffer.subarray(8, headerEnd).toString('utf8'));
  } catch (error) {
    throw corrupt(sourceName, `its header is not valid JSON (${(error as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) {
    throw corrupt(sourceName, 'its header is not a JSON object');
  }

  let metadata: Record<string, string> = {};
  const entries: Array<[string, HeaderEntry]> = [];
  for (const [name, value] of Object.entries(header)) {
    if (name === METADATA_KEY) {
      const valid = value !== null && typeof value === 'object' && Object.values(value).every((item) => typeof item === 'string');
      if (!valid) throw corrupt(sourceName, `${METADATA_KEY} must map strings to strings`);
      metadata = value as Record<string, string>;
      continue;
    }
    entries.push([name, parseEntry(sourceName, name, value, dataBytes)]);
  }

  // The tensors must tile the data section exactly: sorted by offset, each begins where the previous ends.
  const sorted = [...entries].sort((a, b) => a[1].data_offsets[0] - b[1].data_offsets[0]);
  let expectedBegin = 0;
  for (const [name, entry] of sorted) {
    if (entry.data_offsets[0] !== expectedBegin) {
      throw corrupt(sourceName, `tensor ${name} begins at byte ${entry.data_offsets[0]} of the data section, expected ${expectedBegin} (a gap or an overlap)`);
    }
    expectedBegin = entry.data_offsets[1];
  }
  if (expectedBegin !== dataBytes) {
    throw corrupt(sourceName, `its tensors cover ${expectedBegin} bytes but the data section has ${dataBytes}`);
  }

  const tensors = new Map<string, Tensor>();
  for (const [name, entry] of entries) {
    const [begin, end] = entry.data_offsets;
    // Copy into fresh arrays: the buffer may not be 4-byte aligned.
    const bytes = new Uint8Array(end - begin);
    bytes.set(buffer.subarray(headerEnd + begin, headerEnd + end));
    const data = entry.dtype === 'F32' ? new Float32Array(bytes.buffer) : new Int32Array(bytes.buffer);
    tensors.set(name, { dtype: entry.dtype as TensorDtype, shape: entry.shape, data });
  }
  return { tensors, metadata };
}

/** Decodes the tensors of a safetensors file; `sourceName` names the file in CHECKPOINT_CORRUPT errors. */
export function decodeSafetensors(buffer: Buffer, sourceName: string): Map<string, Tensor> {
  return decodeSafetensorsFile(buffer, sourceName).tensors;
}
