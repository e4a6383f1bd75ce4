/**
 * A text-level check of the shaders generated for a rule defined at run time (GLSL for webgl,
 * WGSL for webgpu, every program and variant): each identifier is either one the generators
 * themselves write (keywords, built-ins, their locals and bindings) or a user name in its
 * namespace (./namespace.ts). A user name leaking into the text unencoded is caught at
 * defineRule, not as a shader that fails to compile (webgl) or a batch dropped silently (webgpu).
 */
import type { KernelPlan } from './modules.js';
import { capitalized, glslProgram } from './glsl.js';
import { wgslShader } from './wgsl.js';
import { NAMESPACED } from '../rules/namespace.js';

const WGSL_WORDS = new Set([
  'struct',
  'Uniforms',
  'size',
  'stride',
  'u32',
  'i32',
  'f32',
  'group',
  'binding',
  'var',
  'storage',
  'read',
  'read_write',
  'array',
  'ok',
  'uniform',
  'u',
  'compute',
  'workgroup_size',
  'fn',
  'main',
  'builtin',
  'global_invocation_id',
  'id',
  'vec3',
  'let',
  'i',
  'x',
  'y',
  'if',
  'return',
  'select',
  'abs',
  'min',
  'max',
  'sqrt',
  'clamp',
  'p',
  'g',
  'p_old',
  'g_old',
]);
const GLSL_WORDS = new Set([
  'T',
  'bool',
  'bvec4',
  'return',
  'greaterThan',
  'greaterThanEqual',
  'lessThan',
  'lessThanEqual',
  'mix',
  'sign',
  'abs',
  'min',
  'max',
  'sqrt',
  'clamp',
  'getPAtOutCoords',
  'getGAtOutCoords',
]);
const LOCAL = /^[xuw][0-9]+$/;
/** Numbers first (so the e of 1e-7 is no identifier), then identifiers. */
const TOKEN = /[0-9]+(?:\.[0-9]*)?(?:e[-+]?[0-9]+)?|\.[0-9]+(?:e[-+]?[0-9]+)?|[A-Za-z_][A-Za-z0-9_]*/g;

function foreign(text: string, allowed: (id: string) => boolean): string[] {
  const ids = (text.match(TOKEN) ?? []).filter((t) => /^[A-Za-z_]/.test(t));
  return [...new Set(ids.filter((id) => !allowed(id)))];
}

const glslAllowed = (id: string): boolean =>
  GLSL_WORDS.has(id) ||
  LOCAL.test(id) ||
  (/^get.*AtOutCoords$/.test(id) && NAMESPACED.test(`s${id.slice(4, -'AtOutCoords'.length)}`) && id[3] === 'S');
const wgslAllowed = (id: string): boolean =>
  WGSL_WORDS.has(id) ||
  LOCAL.test(id) ||
  NAMESPACED.test(id) ||
  (id.endsWith('_old') && NAMESPACED.test(id.slice(0, -'_old'.length)));

/** The identifiers of the plan's GLSL and WGSL that are neither the generators' own nor namespaced, by language. */
export function foreignShaderIdentifiers(plan: KernelPlan): { glsl: string[]; wgsl: string[] } {
  const glsl = new Set<string>();
  const wgsl = new Set<string>();
  for (const part of [plan.init, plan.step]) {
    if (part === undefined) continue;
    for (const [target, value] of part.phase.writes) {
      for (const packed of [false, true]) {
        const program = glslProgram(part.sig, target, value, packed);
        const text = `${program.body} ${program.inputs.map((a) => `get${capitalized(a)}AtOutCoords`).join(' ')}`;
        foreign(text, glslAllowed).forEach((id) => glsl.add(id));
      }
    }
    for (const guarded of [false, true]) {
      foreign(wgslShader(part.sig, part.phase, guarded).code, wgslAllowed).forEach((id) => wgsl.add(id));
    }
  }
  return { glsl: [...glsl], wgsl: [...wgsl] };
}
