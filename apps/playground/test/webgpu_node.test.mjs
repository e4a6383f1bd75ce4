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

  it('8-bit and 4-bit state: the codes the cpu backend computes, one dispatch per variable and the check, no growth; a skipped step changes nothing', (t) => {
    const r = withDawn(join(import.meta.dirname, 'webgpu_lowbit_check.mjs'), [], { swiftshader: true });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1));
    assert.notEqual(out.adapter, null, 'Dawn found no adapter');
    for (const [name, x] of Object.entries(out.results)) {
      t.diagnostic(`${name}: ${JSON.stringify(x)}`);
      // the same rule, codes and hashes as the WebAssembly kernels: float32 rounding moves a code now and then
      assert.ok(x.maxRelativeDifferenceToCpu < 1e-4, `${name}: parameters differ from cpu by ${x.maxRelativeDifferenceToCpu}`);
      assert.ok(x.codesAtMostApart <= 1 && x.codesDifferShare < 1e-3, `${name}: codes ${x.codesAtMostApart} apart, ${x.codesDifferShare} differ`);
      assert.ok(x.maxScaleRelativeDifference < 1e-5, `${name}: scales differ by ${x.maxScaleRelativeDifference}`);
      assert.deepEqual(x.paths, [name.includes('int4') ? 'int4' : 'int8'], name);
      assert.equal(x.dispatchesPerStep, 2 * 4 + 3, `${name}: dispatches per step (4 variables)`);
      assert.equal(x.tensorsStable, true, `${name}: tensors grew`);
    }
    assert.equal(out.skipUnchanged, true, 'a step with a NaN gradient (nonFinite skip) changed parameters, codes or scales');
    assert.ok(out.movedMaxDifference < 1e-4, `state saved on webgpu and restored on cpu steps differently: ${out.movedMaxDifference}`);
    assert.equal(out.zeroSize, 'ok', 'a zero-size variable');
    // Node's webgpu backend has no synchronous read: a step elsewhere is refused before anything changes
    t.diagnostic(out.offGpu);
    assert.match(out.offGpu, /is on the GPU \(webgpu\) and the cpu step cannot read it back synchronously here .* move it with getWeights\(\) and setWeights\(\)\. Nothing was changed/);
    assert.equal(out.offGpuUnchanged, true);
  });
});
