/**
 * The safetensors file format (huggingface/safetensors), which PyTorch (`safetensors.torch.load_file`), JAX
 * (`safetensors.flax`) and NumPy read: an 8-byte little-endian header length N, N bytes of JSON
 * `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {string: string}}` (padded with spaces),
 * then the tensors' bytes, little-endian, row-major, back to back. Reading checks everything before it
 * returns: the header's size and JSON, each dtype, that every tensor's bytes match its shape and lie in
 * the file, and that the tensors cover the data without gaps or overlaps.
 */
import { parseJsonStrict } from './strict_json.js';

/** The element types a file may hold: float32, float64, int32, int64 (little-endian). */
export type SafetensorsDtype = 'F32' | 'F64' | 'I32' | 'I64';
/** The typed array of a tensor of each dtype. */
export type TensorData = Float32Array | Float64Array | Int32Array | BigInt64Array;

/** One tensor of a safetensors file: its dtype, shape and data. */
export interface NamedArray {
  dtype: SafetensorsDtype;
  shape: number[];
  data: TensorData;
}

const BYTES: Record<SafetensorsDtype, number> = { F32: 4, F64: 8, I32: 4, I64: 8 };
/** A header larger than this is refused rather than parsed (the format's own readers use 100 MB). */
const MAX_HEADER = 100_000_000;

/** Thrown for a file that is not valid safetensors, naming what is wrong. */
export class SafetensorsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SafetensorsError';
  }
}

const sizeOf = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
const ARRAYS = { F32: Float32Array, F64: Float64Array, I32: Int32Array, I64: BigInt64Array } as const;
const isDtype = (d: unknown): d is SafetensorsDtype => typeof d === 'string' && Object.hasOwn(BYTES, d);
const isShape = (s: unknown): s is number[] =>
  Array.isArray(s) && s.every((d) => Number.isSafeInteger(d) && (d as number) >= 0);

/** What the decoder checks, before the encoder writes: a Map of well-formed tensors and string metadata. */
function checkEncodable(tensors: unknown, metadata: unknown): void {
  if (!(tensors instanceof Map)) {
    const got = Array.isArray(tensors)
      ? 'an array'
      : tensors === null
        ? 'null'
        : `an ${typeof tensors === 'object' ? (tensors.constructor?.name ?? 'object') : typeof tensors}`;
    throw new SafetensorsError(`tensors must be a Map of name to {dtype, shape, data}; got ${got}`);
  }
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata))
    throw new SafetensorsError('metadata must be an object of strings');
  for (const [key, value] of Object.entries(metadata)) {
    if (typeof value !== 'string')
      throw new SafetensorsError(
        `"__metadata__" must map strings to strings; ${JSON.stringify(key)} is ${String(value)}`,
      );
  }
  for (const [name, t] of tensors as Map<unknown, Partial<NamedArray> | null>) {
    if (typeof name !== 'string') throw new SafetensorsError(`a tensor name must be a string; got ${String(name)}`);
    if (!isDtype(t?.dtype))
      throw new SafetensorsError(
        `tensor "${name}": dtype ${JSON.stringify(t?.dtype)}; expected one of ${Object.keys(BYTES).join(', ')}`,
      );
    if (!isShape(t.shape))
      throw new SafetensorsError(`tensor "${name}": shape ${JSON.stringify(t.shape)} is not a list of sizes`);
    const want = ARRAYS[t.dtype];
    if (!(t.data instanceof want)) {
      const got = (t.data as object | undefined)?.constructor?.name ?? String(t.data);
      throw new SafetensorsError(`tensor "${name}": data is a ${got}; expected a ${want.name} for ${t.dtype}`);
    }
  }
}

/** The file: tensors in the order given, `metadata` under "__metadata__". */
export function encodeSafetensors(
  tensors: ReadonlyMap<string, NamedArray>,
  metadata: Record<string, string> = {},
): Uint8Array {
  checkEncodable(tensors, metadata);
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header['__metadata__'] = metadata;
  let offset = 0;
  for (const [name, t] of tensors) {
    if (name === '__metadata__') throw new SafetensorsError('a tensor cannot be named "__metadata__"');
    const bytes = sizeOf(t.shape) * BYTES[t.dtype];
    if (t.data.byteLength !== bytes)
      throw new SafetensorsError(
        `tensor "${name}": ${t.data.byteLength} bytes for shape [${t.shape}] ${t.dtype} (expected ${bytes})`,
      );
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8; // the data then starts 8-byte aligned
  if (padded !== json.length)
    json = new TextEncoder().encode(JSON.stringify(header) + ' '.repeat(padded - json.length));
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const t of tensors.values()) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at); // typed arrays are little-endian here
    at += t.data.byteLength;
  }
  return out;
}

/** The tensors (copies) and metadata of a file, all checked first. */
export function decodeSafetensors(bytes: Uint8Array): {
  tensors: Map<string, NamedArray>;
  metadata: Record<string, string>;
} {
  if (bytes.length < 8) throw new SafetensorsError(`${bytes.length} bytes: too short for a safetensors file`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = view.getBigUint64(0, true);
  if (n > BigInt(Math.min(MAX_HEADER, bytes.length - 8)))
    throw new SafetensorsError(`the header claims ${n} bytes; the file has ${bytes.length - 8} after its length`);
  let header: Record<string, unknown>;
  try {
    header = parseJsonStrict(
      new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + Number(n))),
    ) as Record<string, unknown>;
  } catch (e) {
    throw new SafetensorsError(`the header is not JSON: ${(e as Error).message}`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header))
    throw new SafetensorsError('the header is not a JSON object');
  const start = 8 + Number(n);
  const dataLength = bytes.length - start;
  const metadata = (header['__metadata__'] ?? {}) as Record<string, string>;
  if (
    typeof metadata !== 'object' ||
    Array.isArray(metadata) ||
    Object.values(metadata).some((v) => typeof v !== 'string')
  ) {
    throw new SafetensorsError('"__metadata__" must map strings to strings');
  }
  const entries: [string, SafetensorsDtype, number[], number, number][] = [];
  for (const [name, value] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const e = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (!isDtype(e?.dtype))
      throw new SafetensorsError(
        `tensor "${name}": dtype ${JSON.stringify(e?.dtype)}; expected one of ${Object.keys(BYTES).join(', ')}`,
      );
    const shape = e.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0))
      throw new SafetensorsError(`tensor "${name}": shape ${JSON.stringify(shape)} is not a list of sizes`);
    const off = e.data_offsets;
    if (
      !Array.isArray(off) ||
      off.length !== 2 ||
      !off.every((d) => Number.isSafeInteger(d) && d >= 0) ||
      off[0] > off[1] ||
      off[1] > dataLength
    ) {
      throw new SafetensorsError(
        `tensor "${name}": data_offsets ${JSON.stringify(off)} do not lie within the ${dataLength} data bytes`,
      );
    }
    const dtype = e.dtype as SafetensorsDtype;
    if (off[1] - off[0] !== sizeOf(shape) * BYTES[dtype]) {
      throw new SafetensorsError(`tensor "${name}": ${off[1] - off[0]} bytes for shape [${shape}] ${dtype}`);
    }
    entries.push([name, dtype, shape, off[0], off[1]]);
  }
  // the tensors tile the data exactly: no gap, no overlap, nothing after
  const sorted = [...entries].sort((a, b) => a[3] - b[3]);
  let expected = 0;
  for (const [name, , , b, e] of sorted) {
    if (b !== expected)
      throw new SafetensorsError(
        `tensor "${name}" starts at ${b}; the data before it ends at ${expected} (a gap or an overlap)`,
      );
    expected = e;
  }
  if (expected !== dataLength) throw new SafetensorsError(`the tensors cover ${expected} of ${dataLength} data bytes`);
  const tensors = new Map<string, NamedArray>();
  for (const [name, dtype, shape, b, e] of entries) {
    const copy = new Uint8Array(bytes.subarray(start + b, start + e)).buffer; // a copy, aligned and owned (a Buffer's slice is a view of its pool)
    const data =
      dtype === 'F32'
        ? new Float32Array(copy)
        : dtype === 'F64'
          ? new Float64Array(copy)
          : dtype === 'I32'
            ? new Int32Array(copy)
            : new BigInt64Array(copy);
    tensors.set(name, { dtype, shape, data });
  }
  return { tensors, metadata };
}
