/**
 * A small assembler from the WebAssembly text that src/codegen/wat.ts emits to the binary format,
 * so a rule defined at run time (src/rules/custom.ts) gets its SIMD kernels without a toolchain:
 * folded instructions over i32, f32 and v128, locals, block / loop / br / br_if, loads and stores,
 * one imported memory (plain or shared), exported functions. The library's own rules are compiled
 * by wabt at build time; test/wasm_binary.test.ts checks this assembler produces the same bytes.
 */

type Sexp = string | Sexp[];

function parse(text: string): Sexp {
  const tokens = text.replace(/;;[^\n]*/g, ' ').match(/\(|\)|"[^"]*"|[^\s()]+/g) ?? [];
  let i = 0;
  const read = (): Sexp => {
    const t = tokens[i++];
    if (t === undefined) throw new SyntaxError('adopt-optim wasm: unexpected end of text');
    if (t !== '(') {
      if (t === ')') throw new SyntaxError('adopt-optim wasm: unexpected ")"');
      return t;
    }
    const list: Sexp[] = [];
    while (tokens[i] !== ')') {
      if (i >= tokens.length) throw new SyntaxError('adopt-optim wasm: unclosed "("');
      list.push(read());
    }
    i++;
    return list;
  };
  return read();
}

const VALTYPE: Record<string, number> = { i32: 0x7f, f32: 0x7d, v128: 0x7b };

/** Plain opcodes (no immediates). */
const OP: Record<string, number> = {
  'select': 0x1b, 'i32.eqz': 0x45, 'i32.eq': 0x46, 'i32.ne': 0x47, 'i32.lt_s': 0x48, 'i32.lt_u': 0x49, 'i32.gt_s': 0x4a,
  'i32.gt_u': 0x4b, 'i32.le_s': 0x4c, 'i32.le_u': 0x4d, 'i32.ge_s': 0x4e, 'i32.ge_u': 0x4f,
  'f32.eq': 0x5b, 'f32.ne': 0x5c, 'f32.lt': 0x5d, 'f32.gt': 0x5e, 'f32.le': 0x5f, 'f32.ge': 0x60,
  'i32.add': 0x6a, 'i32.sub': 0x6b, 'i32.mul': 0x6c, 'i32.and': 0x71, 'i32.or': 0x72, 'i32.xor': 0x73, 'i32.shl': 0x74,
  'f32.abs': 0x8b, 'f32.neg': 0x8c, 'f32.sqrt': 0x91, 'f32.add': 0x92, 'f32.sub': 0x93, 'f32.mul': 0x94, 'f32.div': 0x95,
  'f32.min': 0x96, 'f32.max': 0x97, 'i32.reinterpret_f32': 0xbc, 'f32.reinterpret_i32': 0xbe,
};

/** SIMD opcodes (prefix 0xfd), no immediates. */
const SIMD: Record<string, number> = {
  'f32x4.splat': 0x13, 'i32x4.splat': 0x11,
  'i32x4.eq': 0x37, 'i32x4.ne': 0x38, 'i32x4.lt_s': 0x39, 'i32x4.gt_s': 0x3b, 'i32x4.le_s': 0x3d, 'i32x4.ge_s': 0x3f,
  'f32x4.eq': 0x41, 'f32x4.ne': 0x42, 'f32x4.lt': 0x43, 'f32x4.gt': 0x44, 'f32x4.le': 0x45, 'f32x4.ge': 0x46,
  'v128.not': 0x4d, 'v128.and': 0x4e, 'v128.andnot': 0x4f, 'v128.or': 0x50, 'v128.xor': 0x51, 'v128.bitselect': 0x52,
  'i32x4.add': 0xae, 'i32x4.sub': 0xb1, 'i32x4.mul': 0xb5,
  'f32x4.abs': 0xe0, 'f32x4.neg': 0xe1, 'f32x4.sqrt': 0xe3, 'f32x4.add': 0xe4, 'f32x4.sub': 0xe5, 'f32x4.mul': 0xe6,
  'f32x4.div': 0xe7, 'f32x4.min': 0xe8, 'f32x4.max': 0xe9, 'f32x4.pmin': 0xea, 'f32x4.pmax': 0xeb,
};

function uleb(n: number, out: number[]): void {
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
}

function sleb(n: number, out: number[]): void {
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return;
    }
    out.push(byte | 0x80);
  }
}

function f32Bytes(text: string, out: number[]): void {
  const value = text === 'inf' ? Infinity : text === '-inf' ? -Infinity : text === 'nan' ? NaN : Number(text);
  if (Number.isNaN(value) && text !== 'nan') throw new SyntaxError(`adopt-optim wasm: bad f32 literal ${text}`);
  out.push(...new Uint8Array(Float32Array.of(value).buffer));
}

function name(text: string, out: number[]): void {
  const bytes = new TextEncoder().encode(text.replace(/^"|"$/g, ''));
  uleb(bytes.length, out);
  out.push(...bytes);
}

function section(id: number, body: number[], out: number[]): void {
  out.push(id);
  uleb(body.length, out);
  out.push(...body);
}

interface Func {
  exportName: string;
  params: number[];
  results: number[];
  locals: number[];
  body: number[];
}

function assembleFunc(f: Sexp[]): Func {
  const names = new Map<string, number>();
  const params: number[] = [];
  const results: number[] = [];
  const locals: number[] = [];
  let exportName = '';
  const instrs: Sexp[] = [];
  const declare = (id: Sexp | undefined, index: number): void => {
    if (typeof id !== 'string' || !id.startsWith('$')) {
      throw new SyntaxError(`adopt-optim wasm: expected a $name, got ${String(id)}`);
    }
    // wabt refuses a duplicate too; letting the later one win would alias a parameter with a local
    if (names.has(id)) throw new SyntaxError(`adopt-optim wasm: ${id} is declared twice in one func (param or local)`);
    names.set(id, index);
  };
  for (const item of f.slice(1)) {
    if (!Array.isArray(item)) throw new SyntaxError(`adopt-optim wasm: unexpected ${item} in a func`);
    const head = item[0];
    if (head === 'export') exportName = item[1] as string;
    else if (head === 'param') {
      declare(item[1], params.length);
      params.push(VALTYPE[item[2] as string]!);
    } else if (head === 'result') results.push(VALTYPE[item[1] as string]!);
    else if (head === 'local') {
      declare(item[1], params.length + locals.length);
      locals.push(VALTYPE[item[2] as string]!);
    } else instrs.push(item);
  }
  const body: number[] = [];
  const labels: string[] = [];
  const local = (s: Sexp): number => {
    const index = names.get(s as string);
    if (index === undefined) throw new SyntaxError(`adopt-optim wasm: unknown local ${String(s)}`);
    return index;
  };
  const emit = (e: Sexp): void => {
    if (!Array.isArray(e)) throw new SyntaxError(`adopt-optim wasm: expected an instruction, got ${e}`);
    const op = e[0] as string;
    const args = e.slice(1);
    switch (op) {
      case 'local.get': body.push(0x20); uleb(local(args[0]!), body); return;
      case 'local.set': emit(args[1]!); body.push(0x21); uleb(local(args[0]!), body); return;
      case 'i32.const': body.push(0x41); sleb(Number(args[0]), body); return;
      case 'f32.const': body.push(0x43); f32Bytes(args[0] as string, body); return;
      case 'v128.const': {
        if (args[0] !== 'i32x4') throw new SyntaxError('adopt-optim wasm: v128.const takes i32x4 lanes');
        body.push(0xfd);
        uleb(0x0c, body);
        body.push(...new Uint8Array(Int32Array.from(args.slice(1).map(Number)).buffer));
        return;
      }
      case 'f32.load': case 'v128.load': {
        emit(args[0]!);
        if (op === 'f32.load') body.push(0x2a, 2, 0);
        else { body.push(0xfd); uleb(0x00, body); body.push(4, 0); }
        return;
      }
      case 'f32.store': case 'v128.store': {
        emit(args[0]!);
        emit(args[1]!);
        if (op === 'f32.store') body.push(0x38, 2, 0);
        else { body.push(0xfd); uleb(0x0b, body); body.push(4, 0); }
        return;
      }
      case 'i32x4.extract_lane': emit(args[1]!); body.push(0xfd); uleb(0x1b, body); body.push(Number(args[0])); return;
      case 'block': case 'loop': {
        const label = typeof args[0] === 'string' && args[0].startsWith('$') ? args[0] : '';
        body.push(op === 'block' ? 0x02 : 0x03, 0x40);
        labels.push(label);
        for (const inner of label === '' ? args : args.slice(1)) emit(inner);
        labels.pop();
        body.push(0x0b);
        return;
      }
      case 'br': case 'br_if': {
        const depth = labels.length - 1 - labels.lastIndexOf(args[0] as string);
        if (depth >= labels.length) throw new SyntaxError(`adopt-optim wasm: unknown label ${String(args[0])}`);
        for (const operand of args.slice(1)) emit(operand);
        body.push(op === 'br' ? 0x0c : 0x0d);
        uleb(depth, body);
        return;
      }
      default: {
        for (const operand of args) emit(operand);
        const plain = OP[op];
        if (plain !== undefined) { body.push(plain); return; }
        const simd = SIMD[op];
        if (simd === undefined) throw new SyntaxError(`adopt-optim wasm: unsupported instruction ${op}`);
        body.push(0xfd);
        uleb(simd, body);
      }
    }
  };
  instrs.forEach(emit);
  return { exportName, params, results, locals, body };
}

/** The binary module for the text of src/codegen/wat.ts `watModule` (`shared`: import a shared memory). */
export function assembleWat(text: string, shared = false): Uint8Array<ArrayBuffer> {
  const module = parse(text);
  if (!Array.isArray(module) || module[0] !== 'module') throw new SyntaxError('adopt-optim wasm: expected (module ...)');
  const funcs = module.slice(1).filter((x): x is Sexp[] => Array.isArray(x) && x[0] === 'func').map(assembleFunc);
  const exported = new Set<string>();
  for (const f of funcs) {
    if (exported.has(f.exportName)) throw new SyntaxError(`adopt-optim wasm: two funcs export ${f.exportName}`);
    exported.add(f.exportName);
  }
  const types: string[] = [];
  const typeIndex = funcs.map((f) => {
    const key = `${f.params.join(',')}->${f.results.join(',')}`;
    let i = types.indexOf(key);
    if (i < 0) i = types.push(key) - 1;
    return i;
  });
  const out = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  const typeSec: number[] = [];
  uleb(types.length, typeSec);
  for (const key of types) {
    const [ps, rs] = key.split('->').map((s) => (s === '' ? [] : s.split(',').map(Number)));
    typeSec.push(0x60);
    uleb(ps!.length, typeSec);
    typeSec.push(...ps!);
    uleb(rs!.length, typeSec);
    typeSec.push(...rs!);
  }
  section(1, typeSec, out);
  const importSec: number[] = [1];
  name('env', importSec);
  name('memory', importSec);
  importSec.push(0x02);
  if (shared) {
    importSec.push(0x03);
    uleb(1, importSec);
    uleb(65536, importSec);
  } else {
    importSec.push(0x00);
    uleb(1, importSec);
  }
  section(2, importSec, out);
  const funcSec: number[] = [];
  uleb(funcs.length, funcSec);
  for (const t of typeIndex) uleb(t, funcSec);
  section(3, funcSec, out);
  const exportSec: number[] = [];
  uleb(funcs.length, exportSec);
  funcs.forEach((f, i) => {
    name(f.exportName, exportSec);
    exportSec.push(0x00);
    uleb(i, exportSec);
  });
  section(7, exportSec, out);
  const codeSec: number[] = [];
  uleb(funcs.length, codeSec);
  for (const f of funcs) {
    const entry: number[] = [];
    const runs: [number, number][] = [];
    for (const t of f.locals) {
      const last = runs[runs.length - 1];
      if (last !== undefined && last[1] === t) last[0]++;
      else runs.push([1, t]);
    }
    uleb(runs.length, entry);
    for (const [count, t] of runs) {
      uleb(count, entry);
      entry.push(t);
    }
    entry.push(...f.body, 0x0b);
    uleb(entry.length, codeSec);
    codeSec.push(...entry);
  }
  section(10, codeSec, out);
  return Uint8Array.from(out);
}
