/**
 * The IDX format of the MNIST files: a magic number (two zero bytes, a type code, the number of
 * dimensions), one big-endian uint32 per dimension, then the data. Only unsigned bytes (type
 * 0x08) are used by MNIST and read here.
 */

export class DataFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DataFormatError';
  }
}

export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

/** Parses an IDX file; `name` appears in errors. Refuses bad magic numbers and truncated data. */
export function parseIdx(bytes: Uint8Array, name: string): IdxArray {
  if (bytes.byteLength < 4)
    throw new DataFormatError(`${name}: ${bytes.byteLength} bytes is too short for an IDX header.`);
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    throw new DataFormatError(
      `${name}: not an IDX file (the first two bytes are ${bytes[0]}, ${bytes[1]}; expected 0, 0).`,
    );
  }
  if (bytes[2] !== 0x08) {
    throw new DataFormatError(
      `${name}: IDX data type 0x${bytes[2]!.toString(16)} is not supported; expected 0x08 (unsigned bytes).`,
    );
  }
  const rank = bytes[3]!;
  if (rank < 1 || rank > 4) throw new DataFormatError(`${name}: IDX rank ${rank} is out of range 1-4.`);
  const headerBytes = 4 + 4 * rank;
  if (bytes.byteLength < headerBytes)
    throw new DataFormatError(`${name}: truncated IDX header (${bytes.byteLength} bytes).`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i, false));
  const size = dims.reduce((a, b) => a * b, 1);
  const available = bytes.byteLength - headerBytes;
  if (available !== size) {
    throw new DataFormatError(
      `${name}: the header says [${dims.join(', ')}] (${size} bytes of data) but the file holds ${available}; ` +
        (available < size ? 'it is truncated.' : 'it has trailing bytes.'),
    );
  }
  return { dims, data: bytes.subarray(headerBytes) };
}
