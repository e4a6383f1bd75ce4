/**
 * The native reference kernel of the benches (bench/native/adopt_step.c): compiled at bench time with the system's
 * C compiler into a temporary directory (never shipped), then driven as a child process, one timed step per request.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SOURCE = fileURLToPath(new URL('./native/adopt_step.c', import.meta.url));
const COMPILERS = ['cc', 'gcc', 'clang'];
/** -ffp-contract=off: no fused multiply-add, so every operation rounds as WebAssembly's f32x4 does. */
const FLAGS = ['-O3', '-march=native', '-fopenmp', '-fno-math-errno', '-ffp-contract=off'];

export interface NativeBuild {
  /** The compiled harness. */
  binary: string;
  /** The compiler and flags, for the report. */
  command: string;
  /** Removes the temporary directory. */
  remove(): void;
}

/** Every thread the machine offers to this process (os.availableParallelism is Node >= 18.14). */
export const ALL_THREADS = os.availableParallelism?.() ?? os.cpus().length;

/**
 * Compiles the harness with the first compiler that builds it; `{ reason }` when none does
 * (no compiler, or none with OpenMP), so that callers skip the native rows instead of failing.
 */
export function buildNative(): NativeBuild | { reason: string } {
  const dir = mkdtempSync(join(os.tmpdir(), 'adopt-native-'));
  const binary = join(dir, 'adopt_step');
  const failures: string[] = [];
  for (const cc of COMPILERS) {
    const args = [...FLAGS, '-o', binary, SOURCE, '-lm'];
    const r = spawnSync(cc, args, { encoding: 'utf8' });
    if (r.status === 0) {
      // it must also run here (a temporary directory mounted noexec would stop it)
      const run = spawnSync(binary, ['check'], { input: '1e-3 0.9 0.9999 1e-6 1 0\n', encoding: 'utf8' });
      if (run.status !== 0) {
        rmSync(dir, { recursive: true, force: true });
        return { reason: `the compiled kernel does not run (${run.error?.message ?? `exit ${run.status}`})` };
      }
      const remove = () => rmSync(dir, { recursive: true, force: true });
      return { binary, command: `${cc} ${FLAGS.join(' ')}`, remove };
    }
    const missing = (r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
    const firstLine = (r.stderr || '').trim().split('\n')[0] || `exit ${r.status}`;
    const why = missing ? 'not found' : (r.error?.message ?? firstLine);
    failures.push(`${cc}: ${why}`);
  }
  rmSync(dir, { recursive: true, force: true });
  return { reason: `no C compiler with OpenMP built bench/native/adopt_step.c (${failures.join('; ')})` };
}

/** One step, elementwise, through the harness's `check` mode: the same kernel the bench times. */
export interface CheckInput {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** Steps already applied (0: the first step, v = g² only). */
  t: number;
  p: number[];
  g: number[];
  m: number[];
  v: number[];
}

export function checkNative(build: NativeBuild, x: CheckInput): { p: number[]; m: number[]; v: number[] } {
  const n = x.p.length;
  // %.9g round-trips float32 exactly
  const lines = [`${x.lr} ${x.beta1} ${x.beta2} ${x.eps} ${x.t} ${n}`];
  for (let i = 0; i < n; i++) lines.push([x.p[i], x.g[i], x.m[i], x.v[i]].map((y) => y!.toPrecision(9)).join(' '));
  const r = spawnSync(build.binary, ['check'], { input: `${lines.join('\n')}\n`, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`adopt_step check failed (exit ${r.status}): ${r.stderr}`);
  const rows = r.stdout
    .trim()
    .split('\n')
    .map((l) => l.split(' ').map(Number));
  return { p: rows.map((c) => c[0]!), m: rows.map((c) => c[1]!), v: rows.map((c) => c[2]!) };
}

/**
 * The harness in `serve` mode. `alloc` gives it tensors of the bench's lengths (filled and stepped twice, untimed);
 * each `step(threads)` times one step of all of them, so the bench interleaves it with its own methods.
 */
export class NativeServer {
  private readonly child: ChildProcessWithoutNullStreams;
  private buffered = '';
  private readonly waiting: ((line: string) => void)[] = [];
  private failed: Error | undefined;

  constructor(build: NativeBuild) {
    // a short spin before idle OpenMP threads sleep: they must not hold a core while the bench times JS
    this.child = spawn(build.binary, ['serve'], {
      env: {
        ...process.env,
        OMP_NUM_THREADS: String(ALL_THREADS),
        GOMP_SPINCOUNT: process.env['GOMP_SPINCOUNT'] ?? '10000',
      },
    });
    this.child.stdout.setEncoding('utf8');
    this.child.stdout.on('data', (chunk: string) => {
      this.buffered += chunk;
      for (let i = this.buffered.indexOf('\n'); i >= 0; i = this.buffered.indexOf('\n')) {
        const line = this.buffered.slice(0, i);
        this.buffered = this.buffered.slice(i + 1);
        this.waiting.shift()?.(line);
      }
    });
    let stderr = '';
    this.child.stderr.on('data', (d) => {
      stderr += String(d);
    });
    const fail = (why: string) => {
      this.failed ??= new Error(`adopt_step serve ${why}: ${stderr.trim()}`);
      for (const w of this.waiting.splice(0)) w('');
    };
    this.child.on('exit', (code) => fail(`exited (${code})`));
    this.child.on('error', (e) => fail(`failed (${e.message})`));
    this.child.stdin.on('error', () => {}); // a write after it died: reported by 'exit' or 'error'
  }

  private request(command: string): Promise<string> {
    if (this.failed) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => {
      this.waiting.push((line) => (this.failed && line === '' ? reject(this.failed) : resolve(line)));
      this.child.stdin.write(`${command}\n`);
    });
  }

  async alloc(lengths: readonly number[]): Promise<void> {
    const answer = await this.request(`alloc ${lengths.join(' ')}`);
    if (answer !== 'ok') throw new Error(`adopt_step alloc: ${answer}`);
  }

  /** Seconds of one step of every allocated tensor on `threads` threads, as the harness timed it. */
  async step(threads: number): Promise<number> {
    const seconds = Number(await this.request(`step ${threads}`));
    if (!(seconds > 0)) throw new Error(`adopt_step step: no time reported`);
    return seconds;
  }

  async free(): Promise<void> {
    await this.request('free');
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.child.exitCode !== null || this.failed) return resolve();
      this.child.once('exit', () => resolve());
      this.child.stdin.end();
    });
  }
}
