// tfjs's webgpu backend in Node through Dawn (the `webgpu` package) on SwiftShader's Vulkan driver: every
// optimizer's fused step against the cpu backend, one dispatch per variable plus the non-finite check, the path
// it reports, and no tensor growth. The same script runs on a GPU machine's own adapter (see
// scripts/bench-webgpu-node.mjs). Skipped, saying why, where Debian's chromium (which ships the driver) is absent.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { swiftshaderEnv, withDawn } from '../scripts/dawn.mjs';

const skip = swiftshaderEnv() === null ? 'no SwiftShader Vulkan driver (Debian: apt-get install chromium)' : false;

describe('webgpu in Node (Dawn on SwiftShader)', { skip }, () => {
  it('fused steps agree with the cpu backend, one dispatch per variable and the check, path webgpu, no growth', (t) => {
    const r = withDawn(join(import.meta.dirname, 'webgpu_node_check.mjs'), [], { swiftshader: true });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1));
    t.diagnostic(JSON.stringify(out.adapter));
    assert.notEqual(out.adapter, null, 'Dawn found no adapter');
    for (const [name, x] of Object.entries(out.results)) {
      t.diagnostic(`${name}: ${JSON.stringify(x)}`);
      assert.ok(x.maxRelativeDifferenceToCpu < 1e-5, `${name}: differs from cpu by ${x.maxRelativeDifferenceToCpu}`);
      assert.deepEqual(x.paths, ['webgpu'], name);
      // 3 variables: one dispatch each; the non-finite check adds one per variable (its flag) and 3 per step
      assert.equal(x.dispatchesPerStep, name.includes('nonFinite off') ? 3 : 2 * 3 + 3, `${name}: dispatches per step`);
      assert.equal(x.tensorsStable, true, `${name}: tensors grew`);
    }
  });

  it('8-bit, 4-bit and bfloat16 state: the codes the cpu backend computes, one dispatch per variable and the check, no growth; a skipped step changes nothing', (t) => {
    const r = withDawn(join(import.meta.dirname, 'webgpu_lowbit_check.mjs'), [], { swiftshader: true });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1));
    assert.notEqual(out.adapter, null, 'Dawn found no adapter');
    for (const [name, x] of Object.entries(out.results)) {
      t.diagnostic(`${name}: ${JSON.stringify(x)}`);
      // the same rule, codes and hashes as the WebAssembly kernels: float32 rounding moves a code now and then
      assert.ok(
        x.maxRelativeDifferenceToCpu < 1e-4,
        `${name}: parameters differ from cpu by ${x.maxRelativeDifferenceToCpu}`,
      );
      assert.ok(
        x.codesAtMostApart <= 1 && x.codesDifferShare < 1e-3,
        `${name}: codes ${x.codesAtMostApart} apart, ${x.codesDifferShare} differ`,
      );
      assert.ok(x.maxScaleRelativeDifference < 1e-5, `${name}: scales differ by ${x.maxScaleRelativeDifference}`);
      assert.deepEqual(x.paths, [name.match(/int4|int8|bfloat16/)[0]], name);
      assert.equal(x.dispatchesPerStep, 2 * 4 + 3, `${name}: dispatches per step (4 variables)`);
      assert.equal(x.tensorsStable, true, `${name}: tensors grew`);
    }
    assert.equal(
      out.skipUnchanged,
      true,
      'a step with a NaN gradient (nonFinite skip) changed parameters, codes or scales',
    );
    assert.ok(
      out.movedMaxDifference < 1e-4,
      `state saved on webgpu and restored on cpu steps differently: ${out.movedMaxDifference}`,
    );
    assert.equal(out.zeroSize, 'ok', 'a zero-size variable');
    // a synchronous read of webgpu is never used (Node has none; Chromium's is wrong): a step elsewhere is refused
    t.diagnostic(out.offGpu);
    const refusal = /4-bit state of variable "lowbit_beside" is on the webgpu backend, and a cpu step would read/;
    assert.match(out.offGpu, refusal);
    assert.match(out.offGpu, /synchronously.*await optimizer\.getWeights\(\).*Nothing was changed/);
    assert.equal(out.offGpuUnchanged, true);
  });

  it('regressions: globalClipnorm over 8+ variables, a skipped first step, state leaving webgpu', (t) => {
    const r = withDawn(join(import.meta.dirname, 'webgpu_node_regressions_check.mjs'), [], { swiftshader: true });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1));
    assert.notEqual(out.adapter, null, 'Dawn found no adapter');
    // tfjs's AddN of 8 partial sums bound 9 storage buffers (WebGPU guarantees 8): the dispatch was dropped
    for (const [count, d] of Object.entries(out.clip)) {
      t.diagnostic(`globalClipnorm, ${count} variables: ${d} relative to cpu`);
      assert.ok(typeof d === 'number' && d < 1e-5, `globalClipnorm with ${count} variables differs from cpu by ${d}`);
    }
    // a skipped first ADOPT step (clip null): the next step initialises, as on cpu (not a division by epsilon)
    for (const [name, x] of Object.entries(out.skipFirst)) {
      t.diagnostic(`skipped first step, ${name}: ${JSON.stringify(x)}`);
      assert.equal(x.skipped, 1, name);
      assert.equal(x.counters, true, `${name}: step counters differ from cpu's`);
      // issued before the verdict, a step runs with the counter one higher: 4-bit's rounding seed differs then
      const bound = name === 'int4, not awaited' ? 1 : 1e-5;
      assert.ok(x.maxRelativeDifferenceToCpu < bound, `${name}: differs from cpu by ${x.maxRelativeDifferenceToCpu}`);
      assert.ok(x.largestMove < 10, `${name}: a parameter moved by ${x.largestMove} (a division by epsilon)`);
    }
    for (const [name, x] of Object.entries(out.moves)) {
      t.diagnostic(`moved off webgpu, ${name}: ${JSON.stringify(x)}`);
      assert.ok(x.maxRelativeDifferenceToCpu < 1e-5, `${name}: differs from cpu by ${x.maxRelativeDifferenceToCpu}`);
      assert.equal(x.unchanged, true, `${name}: a refused step changed something`);
      const refusal = /is on the webgpu backend.*getWeights\(\).*Nothing was changed/;
      if (name.includes('after')) assert.match(x.refused, refusal);
    }
  });
});
