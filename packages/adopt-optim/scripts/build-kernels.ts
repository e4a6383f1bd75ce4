// Generates and compiles the WebAssembly kernels (wabt, an npm devDependency: nothing downloads):
// - from the rules in src/rules: one module per (rule, flag combination) (src/codegen/modules.ts),
//   its text written by src/codegen/wat.ts into src/kernels/generated/<key>.wat for reading;
// - the hand-written modules of src/kernels/wat/ (the finiteness check); the low-bit codecs
//   (state8_codec.watf, state4_codec.watf) go into the generated low-bit modules.
// Each module is written, base64-encoded, into src/kernels/generated/*.ts, so the compiled kernels
// ship inside the package's JavaScript and load synchronously in Node and browsers. Every module is
// built twice: importing a plain memory, and a *shared* one (the heap of tfjs's threaded wasm build
// on cross-origin-isolated pages): same code, only the import's type differs. Only the plain one is
// written; the shared one must equal sharedMemoryVariant(plain), which the library derives at load time.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import initWabt from 'wabt';
import { allPlans } from '../src/codegen/modules.js';
import { watCount, watModule, watPhase } from '../src/codegen/wat.js';
import { jsCount, jsPhase } from '../src/codegen/js.js';
import { wat8Phase } from '../src/codegen/wat8.js';
import { incapability } from '../src/rules/options.js';
import { LOW_BIT_FORMATS } from '../src/kernels/lowbit.js';
import { sharedMemoryVariant } from '../src/kernels/wasm_module.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const handWritten = join(root, 'src', 'kernels', 'wat');
const outDir = join(root, 'src', 'kernels', 'generated');
rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });
const wabt = await initWabt();
const PLAIN = '(import "env" "memory" (memory 1))';
const SHARED = '(import "env" "memory" (memory 1 65536 shared))';

/**
 * The plain binary of a module's text; its shared-memory build (wabt) must equal
 * sharedMemoryVariant(plain) byte for byte, which is all the package ships for it.
 */
function compile(file: string, text: string): [Uint8Array, Uint8Array] {
  if (!text.includes(PLAIN)) throw new Error(`${file}: expected the memory import ${PLAIN}`);
  const plain = wabt.parseWat(file, text, { simd: true });
  plain.validate();
  const a = plain.toBinary({}).buffer;
  plain.destroy();
  const shared = wabt.parseWat(file, text.replace(PLAIN, SHARED), { simd: true, threads: true });
  const b = shared.toBinary({}).buffer;
  shared.destroy();
  // wabt.js's validate() ignores the threads feature; the engine validates this one
  new WebAssembly.Instance(new WebAssembly.Module(b), {
    env: { memory: new WebAssembly.Memory({ initial: 1, maximum: 16, shared: true }) },
  });
  const derived = sharedMemoryVariant(a);
  if (derived.length !== b.length || derived.some((x, i) => x !== b[i])) {
    throw new Error(`${file}: the shared-memory variant derived from the plain module differs from wabt's shared build`);
  }
  return [a, b];
}

const b64 = (x: Uint8Array): string => Buffer.from(x).toString('base64');

const rules: string[] = [];
const js: string[] = [];
const codecs = new Map(LOW_BIT_FORMATS.map((f) => [f, readFileSync(join(handWritten, `state${f.bits}_codec.watf`), 'utf8')]));
for (const { rule, flags, plan, scaling } of allPlans()) {
  if (scaling.init) js.push(jsPhase(`${scaling.key}_init`, scaling.init.sig, scaling.init.phase));
  js.push(jsPhase(`${scaling.key}_step`, scaling.step.sig, scaling.step.phase));
  if (scaling.count) js.push(jsCount(`${scaling.key}_count`, scaling.count.sig, scaling.count.cond));
  const functions = [
    ...(plan.init ? [watPhase('init', plan.init.sig, plan.init.phase)] : []),
    watPhase('step', plan.step.sig, plan.step.phase),
    ...(plan.count ? [watCount('count', plan.count.sig, plan.count.cond)] : []),
  ];
  const text = watModule(`The ${plan.key} kernels: ${functions.length} functions.`, functions);
  writeFileSync(join(outDir, `${plan.key}.wat`), text);
  const [plain] = compile(`${plan.key}.wat`, text);
  rules.push(`  ${plan.key}: '${b64(plain)}',`);
  console.log(`kernels: rule ${plan.key} -> generated/${plan.key}.wat (${plain.length} bytes)`);
  // low-bit state (§11, §12): the same phases between a codec's decoding loads and encoding stores, where the rule allows it
  if (incapability(rule.name, rule.capabilities, flags, 'lowbit') === null) {
    for (const [format, codec] of codecs) {
      const keyQ = `${plan.key}_${format.key}`;
      const textQ = watModule(`The ${keyQ} kernels: the ${plan.key} rule on block-wise ${format.bits}-bit state.`, [
        codec,
        ...(plan.init ? [wat8Phase('init', plan.init.sig, plan.init.phase, [], format)] : []),
        wat8Phase('step', plan.step.sig, plan.step.phase, ['sign', 'decay'], format),
      ]);
      writeFileSync(join(outDir, `${keyQ}.wat`), textQ);
      const [plainQ] = compile(`${keyQ}.wat`, textQ);
      rules.push(`  ${keyQ}: '${b64(plainQ)}',`);
      console.log(`kernels: rule ${keyQ} -> generated/${keyQ}.wat (${plainQ.length} bytes)`);
    }
  }
}
writeFileSync(join(outDir, 'rule_kernels.ts'),
  '// Generated by scripts/build-kernels.ts from the rules in src/rules; do not edit.\n' +
  '/** Per module key: base64 of the module importing a plain memory (its shared-memory variant is derived: sharedMemoryVariant). */\n' +
  `export const RULE_KERNELS: Record<string, string> = {\n${rules.join('\n')}\n};\n`);

writeFileSync(join(outDir, 'js_kernels.ts'),
  '// Generated by scripts/build-kernels.ts from the rules in src/rules (src/codegen/js.ts): the core\'s chain pieces; do not edit.\n' +
  '/* eslint-disable */\n' + js.join('\n\n') + '\n');
console.log(`kernels: ${js.length} JavaScript functions -> generated/js_kernels.ts`);

for (const file of readdirSync(handWritten).filter((f) => f.endsWith('.wat'))) {
  const name = basename(file, '.wat');
  const [plain] = compile(file, readFileSync(join(handWritten, file), 'utf8'));
  writeFileSync(join(outDir, `${name}.ts`),
    `// Generated by scripts/build-kernels.ts from src/kernels/wat/${file}; do not edit (its shared-memory variant is derived).\n` +
    `export const WASM_BASE64 = '${b64(plain)}';\n`);
  console.log(`kernels: src/kernels/wat/${file} -> generated/${name}.ts (${plain.length} bytes)`);
}
