/**
 * A small assembler from the WebAssembly text of src/codegen/module_text.ts (src/codegen/wat.ts,
 * wat8.ts and the low-bit codecs) to the binary format: every kernel module, built-in or defined
 * at run time (src/compiler/define_rule.ts), is assembled when first used, without a toolchain. It knows
 * folded instructions over i32, f32 and v128 (lane, shuffle, narrow and extend ops among them),
 * locals, block / loop / if / br / br_if, call, loads and stores with offset=, one imported memory
 * (plain or shared), named and exported functions, and refuses anything else.
 * test/wasm_binary.test.ts checks it gives wabt's bytes for every generated module.
 */
import { EXTRACT, MEM, OP, SHAPE, SIMD, VALTYPE } from './wasm_opcodes.js';

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

/** An integer literal (decimal or 0x hex, optionally signed) that fits `bits` bits, signed or not. */
function int(text: Sexp | undefined, bits: number): number {
  if (typeof text !== 'string' || !/^[+-]?(\d+|0x[0-9a-fA-F]+)$/.test(text)) {
    throw new SyntaxError(`adopt-optim wasm: bad integer ${String(text)}`);
  }
  const negative = text.startsWith('-');
  const magnitude = Number(text.replace(/^[+-]/, ''));
  if (negative ? magnitude > 2 ** (bits - 1) : magnitude >= 2 ** bits) {
    throw new SyntaxError(`adopt-optim wasm: ${text} does not fit ${bits} bits`);
  }
  return negative ? -magnitude : magnitude;
}

/** A lane index below `count`. */
function lane(text: Sexp | undefined, count: number): number {
  const i = int(text, 8);
  if (i < 0 || i >= count) throw new SyntaxError(`adopt-optim wasm: lane ${String(text)} out of range`);
  return i;
}

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

/** A hexadecimal float literal (0x1.8p+23) as a number; NaN if it is not one. */
function hexFloat(text: string): number {
  const m = /^([+-]?)0x([0-9a-fA-F]*)(?:\.([0-9a-fA-F]*))?(?:p([+-]?\d+))?$/.exec(text);
  if (m === null || m[2]! + (m[3] ?? '') === '') return NaN;
  const digits = m[2]! + (m[3] ?? '');
  if (digits.length > 13) return NaN; // exact in a double up to 52 bits
  const value = parseInt(digits, 16) * 2 ** (Number(m[4] ?? 0) - 4 * (m[3] ?? '').length);
  return m[1] === '-' ? -value : value;
}

function f32Bytes(text: string, out: number[]): void {
  const decimal = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(text);
  const value =
    text === 'inf'
      ? Infinity
      : text === '-inf'
        ? -Infinity
        : text === 'nan'
          ? NaN
          : decimal
            ? Number(text)
            : hexFloat(text);
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
  exportName: string | null;
  params: number[];
  results: number[];
  locals: number[];
  body: number[];
}

function valtype(t: Sexp | undefined): number {
  const v = VALTYPE[t as string];
  if (v === undefined) throw new SyntaxError(`adopt-optim wasm: unknown value type ${String(t)}`);
  return v;
}

/** `(memarg? ...)`: the optional offset= / align= immediates at the head of args, then the rest. */
function memarg(args: Sexp[], natural: number, out: number[]): Sexp[] {
  let offset = 0;
  let align = natural;
  let i = 0;
  for (; typeof args[i] === 'string' && /^(offset|align)=/.test(args[i] as string); i++) {
    const [key, value] = (args[i] as string).split('=');
    if (key === 'offset') offset = int(value, 32);
    else {
      const bytes = int(value, 32);
      align = Math.log2(bytes);
      if (!Number.isInteger(align) || align > natural) throw new SyntaxError(`adopt-optim wasm: bad align=${value}`);
    }
  }
  out.push(align);
  uleb(offset, out);
  return args.slice(i);
}

function assembleFunc(f: Sexp[], funcs: ReadonlyMap<string, number>): Func {
  const names = new Map<string, number>();
  const params: number[] = [];
  const results: number[] = [];
  const locals: number[] = [];
  let exportName: string | null = null;
  const instrs: Sexp[] = [];
  const declare = (id: Sexp | undefined, index: number): void => {
    if (typeof id !== 'string' || !id.startsWith('$')) {
      throw new SyntaxError(`adopt-optim wasm: expected a $name, got ${String(id)}`);
    }
    // wabt refuses a duplicate too; letting the later one win would alias a parameter with a local
    if (names.has(id)) throw new SyntaxError(`adopt-optim wasm: ${id} is declared twice in one func (param or local)`);
    names.set(id, index);
  };
  for (const item of f.slice(typeof f[1] === 'string' ? 2 : 1)) {
    if (!Array.isArray(item)) throw new SyntaxError(`adopt-optim wasm: unexpected ${item} in a func`);
    const head = item[0];
    if (head === 'export') exportName = item[1] as string;
    else if (head === 'param') {
      declare(item[1], params.length);
      params.push(valtype(item[2]));
    } else if (head === 'result') results.push(...item.slice(1).map(valtype));
    else if (head === 'local') {
      declare(item[1], params.length + locals.length);
      locals.push(valtype(item[2]));
    } else instrs.push(item);
  }
  const body: number[] = [];
  const labels: string[] = [];
  const local = (s: Sexp): number => {
    const index = names.get(s as string);
    if (index === undefined) throw new SyntaxError(`adopt-optim wasm: unknown local ${String(s)}`);
    return index;
  };
  const simd = (op: number): void => {
    body.push(0xfd);
    uleb(op, body);
  };
  const emit = (e: Sexp): void => {
    if (!Array.isArray(e)) throw new SyntaxError(`adopt-optim wasm: expected an instruction, got ${e}`);
    const op = e[0] as string;
    const args = e.slice(1);
    switch (op) {
      case 'local.get':
        body.push(0x20);
        uleb(local(args[0]!), body);
        return;
      case 'local.set':
        emit(args[1]!);
        body.push(0x21);
        uleb(local(args[0]!), body);
        return;
      case 'i32.const':
        body.push(0x41);
        sleb(int(args[0], 32) | 0, body);
        return;
      case 'f32.const':
        body.push(0x43);
        f32Bytes(args[0] as string, body);
        return;
      case 'v128.const': {
        const shape = SHAPE[args[0] as string];
        if (shape === undefined || args.length !== shape[0] + 1) {
          throw new SyntaxError(`adopt-optim wasm: v128.const takes i8x16, i16x8 or i32x4 and all its lanes`);
        }
        simd(0x0c);
        for (const x of args.slice(1)) {
          const v = int(x, 8 * shape[1]);
          for (let b = 0; b < shape[1]; b++) body.push((v >> (8 * b)) & 0xff);
        }
        return;
      }
      case 'i8x16.shuffle': {
        if (args.length !== 18) throw new SyntaxError('adopt-optim wasm: i8x16.shuffle takes 16 lane indices');
        emit(args[16]!);
        emit(args[17]!);
        simd(0x0d);
        for (const x of args.slice(0, 16)) body.push(lane(x, 32));
        return;
      }
      case 'call': {
        const index = funcs.get(args[0] as string);
        if (index === undefined) throw new SyntaxError(`adopt-optim wasm: unknown func ${String(args[0])}`);
        for (const operand of args.slice(1)) emit(operand);
        body.push(0x10);
        uleb(index, body);
        return;
      }
      case 'block':
      case 'loop': {
        const label = typeof args[0] === 'string' && args[0].startsWith('$') ? args[0] : '';
        body.push(op === 'block' ? 0x02 : 0x03, 0x40);
        labels.push(label);
        for (const inner of label === '' ? args : args.slice(1)) emit(inner);
        labels.pop();
        body.push(0x0b);
        return;
      }
      case 'if': {
        const [cond, then, otherwise, ...rest] = args;
        if (
          !Array.isArray(then) ||
          then[0] !== 'then' ||
          rest.length > 0 ||
          (otherwise !== undefined && (!Array.isArray(otherwise) || otherwise[0] !== 'else'))
        ) {
          throw new SyntaxError('adopt-optim wasm: expected (if cond (then ...) (else ...))');
        }
        emit(cond!);
        body.push(0x04, 0x40);
        labels.push('');
        then.slice(1).forEach(emit);
        if (otherwise !== undefined) {
          body.push(0x05);
          (otherwise as Sexp[]).slice(1).forEach(emit);
        }
        labels.pop();
        body.push(0x0b);
        return;
      }
      case 'br':
      case 'br_if': {
        const depth = labels.length - 1 - labels.lastIndexOf(args[0] as string);
        if (depth >= labels.length) throw new SyntaxError(`adopt-optim wasm: unknown label ${String(args[0])}`);
        for (const operand of args.slice(1)) emit(operand);
        body.push(op === 'br' ? 0x0c : 0x0d);
        uleb(depth, body);
        return;
      }
      default: {
        const mem = MEM[op];
        if (mem !== undefined) {
          const [isSimd, code, natural, hasLane] = mem;
          const laneIndex = hasLane ? lane(args.shift(), 16 >> natural) : -1;
          const immediates: number[] = [];
          const operands = memarg(args, natural, immediates);
          operands.forEach(emit);
          if (isSimd) simd(code);
          else body.push(code);
          body.push(...immediates);
          if (hasLane) body.push(laneIndex);
          return;
        }
        const extract = EXTRACT[op];
        if (extract !== undefined) {
          const index = lane(args[0], extract[1]);
          args.slice(1).forEach(emit);
          simd(extract[0]);
          body.push(index);
          return;
        }
        for (const operand of args) emit(operand);
        const plain = OP[op];
        if (plain !== undefined) {
          body.push(plain);
          return;
        }
        const code = SIMD[op];
        if (code === undefined) throw new SyntaxError(`adopt-optim wasm: unsupported instruction ${op}`);
        simd(code);
      }
    }
  };
  instrs.forEach(emit);
  return { exportName, params, results, locals, body };
}

/**
 * The binary module for a text of ./module_text.ts (built-in rules and rules defined at run time; ./wat.ts
 * `watModule`), which imports env.memory as `(memory 1)`; `shared`: import it as a shared memory instead.
 */
export function assembleWat(text: string, shared = false): Uint8Array<ArrayBuffer> {
  const module = parse(text);
  if (!Array.isArray(module) || module[0] !== 'module') {
    throw new SyntaxError('adopt-optim wasm: expected (module ...)');
  }
  const items = module.slice(1) as Sexp[][];
  const funcNames = new Map<string, number>();
  let imports = 0;
  const defs = items.filter((x) => {
    if (!Array.isArray(x)) throw new SyntaxError(`adopt-optim wasm: unexpected ${x} in a module`);
    if (x[0] === 'import' && x.join(' ') === 'import "env" "memory" memory,1') return imports++ < 0;
    if (x[0] !== 'func') throw new SyntaxError(`adopt-optim wasm: unsupported module field ${String(x[0])}`);
    return true;
  });
  if (imports !== 1) throw new SyntaxError('adopt-optim wasm: expected one (import "env" "memory" (memory 1))');
  defs.forEach((f, i) => {
    if (typeof f[1] !== 'string') return;
    if (funcNames.has(f[1])) throw new SyntaxError(`adopt-optim wasm: two funcs are named ${f[1]}`);
    funcNames.set(f[1], i);
  });
  const funcs = defs.map((f) => assembleFunc(f, funcNames));
  const exported = new Set<string>();
  for (const f of funcs) {
    if (f.exportName === null) continue;
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
  uleb(exported.size, exportSec);
  funcs.forEach((f, i) => {
    if (f.exportName === null) return;
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
