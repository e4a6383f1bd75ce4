;; Single-pass optimizer kernels: each reads p, g and the state once and writes p and the state
;; once, four float32 lanes at a time (WebAssembly SIMD), with a scalar loop for the last 0-3.
;;
;; The memory is imported: bound to the tfjs wasm backend's own heap, the kernels update tensors
;; in place; bound to a memory of ours, they work on chunks copied in from JS arrays.
;; Pointers are byte offsets; n is a count of float32 elements. Buffers may alias nothing.
;; Compiled by scripts/build-kernels.mjs (wabt) into src/kernels/generated/.
(module
  (import "env" "memory" (memory 1))

  ;; ADOPT's first step (docs/ALGORITHM.md §2.3): v = g'^2 with g' = sign * g + wd * p (wd is the coupled L2 term, or 0).
  (func (export "adopt_init")
    (param $p i32) (param $g i32) (param $v i32) (param $n i32) (param $sign f32) (param $wd f32)
    (local $i i32) (local $end i32) (local $o i32) (local $gv v128) (local $x f32)
    (local.set $end (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2)))
    (block $done
      (loop $loop
        (br_if $done (i32.ge_u (local.get $o) (local.get $end)))
        (local.set $gv
          (f32x4.add
            (f32x4.mul (v128.load (i32.add (local.get $g) (local.get $o))) (f32x4.splat (local.get $sign)))
            (f32x4.mul (v128.load (i32.add (local.get $p) (local.get $o))) (f32x4.splat (local.get $wd)))))
        (v128.store (i32.add (local.get $v) (local.get $o)) (f32x4.mul (local.get $gv) (local.get $gv)))
        (local.set $o (i32.add (local.get $o) (i32.const 16)))
        (br $loop)))
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $o) (local.get $end)))
        (local.set $x
          (f32.add
            (f32.mul (f32.load (i32.add (local.get $g) (local.get $o))) (local.get $sign))
            (f32.mul (f32.load (i32.add (local.get $p) (local.get $o))) (local.get $wd))))
        (f32.store (i32.add (local.get $v) (local.get $o)) (f32.mul (local.get $x) (local.get $x)))
        (local.set $o (i32.add (local.get $o) (i32.const 4)))
        (br $tail))))

  ;; One ADOPT step (docs/ALGORITHM.md §2.4, with §2.2 and §3), t >= 1:
  ;;   g' = sign * g + wd * p;  p = decay * p          (decay = 1 - lr * wd if decoupled, else 1)
  ;;   n = clamp(g' / max(sqrt(v), eps), -c, c)         (c = +inf when unclipped)
  ;;   m = b1 * m + (1 - b1) * n;  p = p - lr * u;  v = b2 * v + (1 - b2) * g'^2
  ;;   u = (nest ? b1 * m + (1 - b1) * n : m) * (m * g' > 0 ? hi : lo)     (§10.1, §10.2)
  (func (export "adopt_step")
    (param $p i32) (param $g i32) (param $m i32) (param $v i32) (param $n i32)
    (param $lr f32) (param $b1 f32) (param $omb1 f32) (param $b2 f32) (param $omb2 f32)
    (param $eps f32) (param $c f32) (param $sign f32) (param $wd f32) (param $decay f32)
    (param $nest i32) (param $hi f32) (param $lo f32)
    (local $o i32) (local $end i32)
    (local $gv v128) (local $pv v128) (local $vv v128) (local $nv v128) (local $mv v128) (local $uv v128)
    (local $nest4 v128) (local $hi4 v128) (local $lo4 v128) (local $us f32)
    (local $lr4 v128) (local $b14 v128) (local $omb14 v128) (local $b24 v128) (local $omb24 v128)
    (local $eps4 v128) (local $c4 v128) (local $negc4 v128) (local $sign4 v128) (local $wd4 v128) (local $decay4 v128)
    (local $gs f32) (local $ps f32) (local $vs f32) (local $ns f32) (local $ms f32)
    (local.set $lr4 (f32x4.splat (local.get $lr)))
    (local.set $b14 (f32x4.splat (local.get $b1)))
    (local.set $omb14 (f32x4.splat (local.get $omb1)))
    (local.set $b24 (f32x4.splat (local.get $b2)))
    (local.set $omb24 (f32x4.splat (local.get $omb2)))
    (local.set $eps4 (f32x4.splat (local.get $eps)))
    (local.set $c4 (f32x4.splat (local.get $c)))
    (local.set $negc4 (f32x4.splat (f32.neg (local.get $c))))
    (local.set $sign4 (f32x4.splat (local.get $sign)))
    (local.set $wd4 (f32x4.splat (local.get $wd)))
    (local.set $decay4 (f32x4.splat (local.get $decay)))
    (local.set $nest4 (i32x4.splat (i32.sub (i32.const 0) (i32.ne (local.get $nest) (i32.const 0)))))
    (local.set $hi4 (f32x4.splat (local.get $hi)))
    (local.set $lo4 (f32x4.splat (local.get $lo)))
    (local.set $end (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2)))
    (block $done
      (loop $loop
        (br_if $done (i32.ge_u (local.get $o) (local.get $end)))
        (local.set $pv (v128.load (i32.add (local.get $p) (local.get $o))))
        (local.set $vv (v128.load (i32.add (local.get $v) (local.get $o))))
        (local.set $gv
          (f32x4.add
            (f32x4.mul (v128.load (i32.add (local.get $g) (local.get $o))) (local.get $sign4))
            (f32x4.mul (local.get $pv) (local.get $wd4))))
        (local.set $nv
          (f32x4.div (local.get $gv) (f32x4.pmax (f32x4.sqrt (local.get $vv)) (local.get $eps4))))
        (local.set $nv (f32x4.pmin (f32x4.pmax (local.get $nv) (local.get $negc4)) (local.get $c4)))
        (local.set $mv
          (f32x4.add
            (f32x4.mul (v128.load (i32.add (local.get $m) (local.get $o))) (local.get $b14))
            (f32x4.mul (local.get $nv) (local.get $omb14))))
        (v128.store (i32.add (local.get $m) (local.get $o)) (local.get $mv))
        ;; the update u: m, or with Nesterov b1 * m + (1 - b1) * n (§10.1); caution (§10.2) scales it
        ;; by hi where m * g' > 0 and by lo elsewhere (hi = lo = 1 without caution: exact)
        (local.set $uv
          (v128.bitselect
            (f32x4.add (f32x4.mul (local.get $mv) (local.get $b14)) (f32x4.mul (local.get $nv) (local.get $omb14)))
            (local.get $mv) (local.get $nest4)))
        (local.set $uv
          (f32x4.mul (local.get $uv)
            (v128.bitselect (local.get $hi4) (local.get $lo4)
              (v128.and (v128.and (f32x4.gt (f32x4.abs (local.get $mv)) (f32x4.splat (f32.const 0))) (f32x4.gt (f32x4.abs (local.get $gv)) (f32x4.splat (f32.const 0)))) (i32x4.ge_s (v128.xor (local.get $mv) (local.get $gv)) (v128.const i32x4 0 0 0 0))))))
        (v128.store (i32.add (local.get $p) (local.get $o))
          (f32x4.sub (f32x4.mul (local.get $pv) (local.get $decay4)) (f32x4.mul (local.get $uv) (local.get $lr4))))
        (v128.store (i32.add (local.get $v) (local.get $o))
          (f32x4.add
            (f32x4.mul (local.get $vv) (local.get $b24))
            (f32x4.mul (f32x4.mul (local.get $gv) (local.get $gv)) (local.get $omb24))))
        (local.set $o (i32.add (local.get $o) (i32.const 16)))
        (br $loop)))
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $o) (local.get $end)))
        (local.set $ps (f32.load (i32.add (local.get $p) (local.get $o))))
        (local.set $vs (f32.load (i32.add (local.get $v) (local.get $o))))
        (local.set $gs
          (f32.add
            (f32.mul (f32.load (i32.add (local.get $g) (local.get $o))) (local.get $sign))
            (f32.mul (local.get $ps) (local.get $wd))))
        (local.set $ns (f32.div (local.get $gs) (f32.max (f32.sqrt (local.get $vs)) (local.get $eps))))
        (local.set $ns (f32.min (f32.max (local.get $ns) (f32.neg (local.get $c))) (local.get $c)))
        (local.set $ms
          (f32.add
            (f32.mul (f32.load (i32.add (local.get $m) (local.get $o))) (local.get $b1))
            (f32.mul (local.get $ns) (local.get $omb1))))
        (f32.store (i32.add (local.get $m) (local.get $o)) (local.get $ms))
        (local.set $us
          (select
            (f32.add (f32.mul (local.get $ms) (local.get $b1)) (f32.mul (local.get $ns) (local.get $omb1)))
            (local.get $ms) (local.get $nest)))
        (local.set $us
          (f32.mul (local.get $us)
            (select (local.get $hi) (local.get $lo) (i32.and (i32.and (f32.gt (f32.abs (local.get $ms)) (f32.const 0)) (f32.gt (f32.abs (local.get $gs)) (f32.const 0))) (i32.ge_s (i32.xor (i32.reinterpret_f32 (local.get $ms)) (i32.reinterpret_f32 (local.get $gs))) (i32.const 0))))))
        (f32.store (i32.add (local.get $p) (local.get $o))
          (f32.sub (f32.mul (local.get $ps) (local.get $decay)) (f32.mul (local.get $us) (local.get $lr))))
        (f32.store (i32.add (local.get $v) (local.get $o))
          (f32.add
            (f32.mul (local.get $vs) (local.get $b2))
            (f32.mul (f32.mul (local.get $gs) (local.get $gs)) (local.get $omb2))))
        (local.set $o (i32.add (local.get $o) (i32.const 4)))
        (br $tail))))

  ;; One Adam / AdamW / AMSGrad step (PyTorch's form, docs/ALGORITHM.md §4), t >= 1:
  ;;   g' = sign * g + wd * p;  p = decay * p
  ;;   m = b1 * m + (1 - b1) * g';  v = b2 * v + (1 - b2) * g'^2
  ;;   s = amsgrad ? (vmax = max(vmax, v)) : v
  ;;   p = p - stepSize * m * f / (sqrt(s) * invSqrtBc2 + eps)   (stepSize = lr / (1 - b1^t))
  ;;   f = m * g' > 0 ? hi : lo   (caution, §10.2; hi = lo = 1 without it)
  (func (export "adam_step")
    (param $p i32) (param $g i32) (param $m i32) (param $v i32) (param $vmax i32) (param $n i32)
    (param $stepSize f32) (param $b1 f32) (param $omb1 f32) (param $b2 f32) (param $omb2 f32)
    (param $eps f32) (param $invSqrtBc2 f32) (param $sign f32) (param $wd f32) (param $decay f32)
    (param $amsgrad i32) (param $hi f32) (param $lo f32)
    (local $o i32) (local $end i32) (local $hi4 v128) (local $lo4 v128)
    (local $gv v128) (local $pv v128) (local $vv v128) (local $mv v128) (local $sv v128)
    (local $ss4 v128) (local $b14 v128) (local $omb14 v128) (local $b24 v128) (local $omb24 v128)
    (local $eps4 v128) (local $ibc4 v128) (local $sign4 v128) (local $wd4 v128) (local $decay4 v128)
    (local $gs f32) (local $ps f32) (local $vs f32) (local $ms f32) (local $s f32)
    (local.set $ss4 (f32x4.splat (local.get $stepSize)))
    (local.set $b14 (f32x4.splat (local.get $b1)))
    (local.set $omb14 (f32x4.splat (local.get $omb1)))
    (local.set $b24 (f32x4.splat (local.get $b2)))
    (local.set $omb24 (f32x4.splat (local.get $omb2)))
    (local.set $eps4 (f32x4.splat (local.get $eps)))
    (local.set $ibc4 (f32x4.splat (local.get $invSqrtBc2)))
    (local.set $sign4 (f32x4.splat (local.get $sign)))
    (local.set $wd4 (f32x4.splat (local.get $wd)))
    (local.set $decay4 (f32x4.splat (local.get $decay)))
    (local.set $hi4 (f32x4.splat (local.get $hi)))
    (local.set $lo4 (f32x4.splat (local.get $lo)))
    (local.set $end (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2)))
    (block $done
      (loop $loop
        (br_if $done (i32.ge_u (local.get $o) (local.get $end)))
        (local.set $pv (v128.load (i32.add (local.get $p) (local.get $o))))
        (local.set $gv
          (f32x4.add
            (f32x4.mul (v128.load (i32.add (local.get $g) (local.get $o))) (local.get $sign4))
            (f32x4.mul (local.get $pv) (local.get $wd4))))
        (local.set $mv
          (f32x4.add
            (f32x4.mul (v128.load (i32.add (local.get $m) (local.get $o))) (local.get $b14))
            (f32x4.mul (local.get $gv) (local.get $omb14))))
        (local.set $vv
          (f32x4.add
            (f32x4.mul (v128.load (i32.add (local.get $v) (local.get $o))) (local.get $b24))
            (f32x4.mul (f32x4.mul (local.get $gv) (local.get $gv)) (local.get $omb24))))
        (v128.store (i32.add (local.get $m) (local.get $o)) (local.get $mv))
        (v128.store (i32.add (local.get $v) (local.get $o)) (local.get $vv))
        (local.set $sv (local.get $vv))
        (if (local.get $amsgrad)
          (then
            (local.set $sv (f32x4.max (v128.load (i32.add (local.get $vmax) (local.get $o))) (local.get $vv)))
            (v128.store (i32.add (local.get $vmax) (local.get $o)) (local.get $sv))))
        (v128.store (i32.add (local.get $p) (local.get $o))
          (f32x4.sub
            (f32x4.mul (local.get $pv) (local.get $decay4))
            (f32x4.div
              (f32x4.mul
                (f32x4.mul (local.get $mv)
                  (v128.bitselect (local.get $hi4) (local.get $lo4)
                    (v128.and (v128.and (f32x4.gt (f32x4.abs (local.get $mv)) (f32x4.splat (f32.const 0))) (f32x4.gt (f32x4.abs (local.get $gv)) (f32x4.splat (f32.const 0)))) (i32x4.ge_s (v128.xor (local.get $mv) (local.get $gv)) (v128.const i32x4 0 0 0 0)))))
                (local.get $ss4))
              (f32x4.add (f32x4.mul (f32x4.sqrt (local.get $sv)) (local.get $ibc4)) (local.get $eps4)))))
        (local.set $o (i32.add (local.get $o) (i32.const 16)))
        (br $loop)))
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $o) (local.get $end)))
        (local.set $ps (f32.load (i32.add (local.get $p) (local.get $o))))
        (local.set $gs
          (f32.add
            (f32.mul (f32.load (i32.add (local.get $g) (local.get $o))) (local.get $sign))
            (f32.mul (local.get $ps) (local.get $wd))))
        (local.set $ms
          (f32.add
            (f32.mul (f32.load (i32.add (local.get $m) (local.get $o))) (local.get $b1))
            (f32.mul (local.get $gs) (local.get $omb1))))
        (local.set $vs
          (f32.add
            (f32.mul (f32.load (i32.add (local.get $v) (local.get $o))) (local.get $b2))
            (f32.mul (f32.mul (local.get $gs) (local.get $gs)) (local.get $omb2))))
        (f32.store (i32.add (local.get $m) (local.get $o)) (local.get $ms))
        (f32.store (i32.add (local.get $v) (local.get $o)) (local.get $vs))
        (local.set $s (local.get $vs))
        (if (local.get $amsgrad)
          (then
            (local.set $s (f32.max (f32.load (i32.add (local.get $vmax) (local.get $o))) (local.get $vs)))
            (f32.store (i32.add (local.get $vmax) (local.get $o)) (local.get $s))))
        (f32.store (i32.add (local.get $p) (local.get $o))
          (f32.sub
            (f32.mul (local.get $ps) (local.get $decay))
            (f32.div
              (f32.mul
                (f32.mul (local.get $ms)
                  (select (local.get $hi) (local.get $lo) (i32.and (i32.and (f32.gt (f32.abs (local.get $ms)) (f32.const 0)) (f32.gt (f32.abs (local.get $gs)) (f32.const 0))) (i32.ge_s (i32.xor (i32.reinterpret_f32 (local.get $ms)) (i32.reinterpret_f32 (local.get $gs))) (i32.const 0)))))
                (local.get $stepSize))
              (f32.add (f32.mul (f32.sqrt (local.get $s)) (local.get $invSqrtBc2)) (local.get $eps)))))
        (local.set $o (i32.add (local.get $o) (i32.const 4)))
        (br $tail))))

  ;; "m * g' > 0" is evaluated without the product, which underflows in float32 (1e-30 * 1e-20 = 0):
  ;; both non-zero and not NaN (|x| > 0), and the same sign bit. The float64 reference's product does not underflow.
  ;; Caution's first pass (docs/ALGORITHM.md §10.2): the number of elements where m_new * g' > 0, with
  ;; m_new and g' computed exactly as adopt_step computes them; nothing is written.
  (func (export "adopt_caution_count")
    (param $p i32) (param $g i32) (param $m i32) (param $v i32) (param $n i32)
    (param $b1 f32) (param $omb1 f32) (param $eps f32) (param $c f32) (param $sign f32) (param $wd f32)
    (result i32)
    (local $o i32) (local $end i32) (local $acc v128) (local $count i32)
    (local $gv v128) (local $nv v128) (local $mv v128) (local $gs f32) (local $ns f32) (local $ms f32)
    (local $b14 v128) (local $omb14 v128) (local $eps4 v128) (local $c4 v128) (local $negc4 v128) (local $sign4 v128) (local $wd4 v128)
    (local.set $b14 (f32x4.splat (local.get $b1)))
    (local.set $omb14 (f32x4.splat (local.get $omb1)))
    (local.set $eps4 (f32x4.splat (local.get $eps)))
    (local.set $c4 (f32x4.splat (local.get $c)))
    (local.set $negc4 (f32x4.splat (f32.neg (local.get $c))))
    (local.set $sign4 (f32x4.splat (local.get $sign)))
    (local.set $wd4 (f32x4.splat (local.get $wd)))
    (local.set $end (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2)))
    (block $done
      (loop $loop
        (br_if $done (i32.ge_u (local.get $o) (local.get $end)))
        (local.set $gv
          (f32x4.add
            (f32x4.mul (v128.load (i32.add (local.get $g) (local.get $o))) (local.get $sign4))
            (f32x4.mul (v128.load (i32.add (local.get $p) (local.get $o))) (local.get $wd4))))
        (local.set $nv
          (f32x4.div (local.get $gv)
            (f32x4.pmax (f32x4.sqrt (v128.load (i32.add (local.get $v) (local.get $o)))) (local.get $eps4))))
        (local.set $nv (f32x4.pmin (f32x4.pmax (local.get $nv) (local.get $negc4)) (local.get $c4)))
        (local.set $mv
          (f32x4.add
            (f32x4.mul (v128.load (i32.add (local.get $m) (local.get $o))) (local.get $b14))
            (f32x4.mul (local.get $nv) (local.get $omb14))))
        (local.set $acc
          (i32x4.sub (local.get $acc)
            (v128.and (v128.and (f32x4.gt (f32x4.abs (local.get $mv)) (f32x4.splat (f32.const 0))) (f32x4.gt (f32x4.abs (local.get $gv)) (f32x4.splat (f32.const 0)))) (i32x4.ge_s (v128.xor (local.get $mv) (local.get $gv)) (v128.const i32x4 0 0 0 0)))))
        (local.set $o (i32.add (local.get $o) (i32.const 16)))
        (br $loop)))
    (local.set $count
      (i32.add
        (i32.add (i32x4.extract_lane 0 (local.get $acc)) (i32x4.extract_lane 1 (local.get $acc)))
        (i32.add (i32x4.extract_lane 2 (local.get $acc)) (i32x4.extract_lane 3 (local.get $acc)))))
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $o) (local.get $end)))
        (local.set $gs
          (f32.add
            (f32.mul (f32.load (i32.add (local.get $g) (local.get $o))) (local.get $sign))
            (f32.mul (f32.load (i32.add (local.get $p) (local.get $o))) (local.get $wd))))
        (local.set $ns (f32.div (local.get $gs) (f32.max (f32.sqrt (f32.load (i32.add (local.get $v) (local.get $o)))) (local.get $eps))))
        (local.set $ns (f32.min (f32.max (local.get $ns) (f32.neg (local.get $c))) (local.get $c)))
        (local.set $ms
          (f32.add
            (f32.mul (f32.load (i32.add (local.get $m) (local.get $o))) (local.get $b1))
            (f32.mul (local.get $ns) (local.get $omb1))))
        (local.set $count (i32.add (local.get $count) (i32.and (i32.and (f32.gt (f32.abs (local.get $ms)) (f32.const 0)) (f32.gt (f32.abs (local.get $gs)) (f32.const 0))) (i32.ge_s (i32.xor (i32.reinterpret_f32 (local.get $ms)) (i32.reinterpret_f32 (local.get $gs))) (i32.const 0)))))
        (local.set $o (i32.add (local.get $o) (i32.const 4)))
        (br $tail)))
    (local.get $count))

  ;; Caution's first pass for adam_step: the count of m_new * g' > 0; nothing is written.
  (func (export "adam_caution_count")
    (param $p i32) (param $g i32) (param $m i32) (param $n i32)
    (param $b1 f32) (param $omb1 f32) (param $sign f32) (param $wd f32)
    (result i32)
    (local $o i32) (local $end i32) (local $acc v128) (local $count i32)
    (local $gv v128) (local $mv v128) (local $gs f32) (local $ms f32)
    (local $b14 v128) (local $omb14 v128) (local $sign4 v128) (local $wd4 v128)
    (local.set $b14 (f32x4.splat (local.get $b1)))
    (local.set $omb14 (f32x4.splat (local.get $omb1)))
    (local.set $sign4 (f32x4.splat (local.get $sign)))
    (local.set $wd4 (f32x4.splat (local.get $wd)))
    (local.set $end (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2)))
    (block $done
      (loop $loop
        (br_if $done (i32.ge_u (local.get $o) (local.get $end)))
        (local.set $gv
          (f32x4.add
            (f32x4.mul (v128.load (i32.add (local.get $g) (local.get $o))) (local.get $sign4))
            (f32x4.mul (v128.load (i32.add (local.get $p) (local.get $o))) (local.get $wd4))))
        (local.set $mv
          (f32x4.add
            (f32x4.mul (v128.load (i32.add (local.get $m) (local.get $o))) (local.get $b14))
            (f32x4.mul (local.get $gv) (local.get $omb14))))
        (local.set $acc
          (i32x4.sub (local.get $acc)
            (v128.and (v128.and (f32x4.gt (f32x4.abs (local.get $mv)) (f32x4.splat (f32.const 0))) (f32x4.gt (f32x4.abs (local.get $gv)) (f32x4.splat (f32.const 0)))) (i32x4.ge_s (v128.xor (local.get $mv) (local.get $gv)) (v128.const i32x4 0 0 0 0)))))
        (local.set $o (i32.add (local.get $o) (i32.const 16)))
        (br $loop)))
    (local.set $count
      (i32.add
        (i32.add (i32x4.extract_lane 0 (local.get $acc)) (i32x4.extract_lane 1 (local.get $acc)))
        (i32.add (i32x4.extract_lane 2 (local.get $acc)) (i32x4.extract_lane 3 (local.get $acc)))))
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $o) (local.get $end)))
        (local.set $gs
          (f32.add
            (f32.mul (f32.load (i32.add (local.get $g) (local.get $o))) (local.get $sign))
            (f32.mul (f32.load (i32.add (local.get $p) (local.get $o))) (local.get $wd))))
        (local.set $ms
          (f32.add
            (f32.mul (f32.load (i32.add (local.get $m) (local.get $o))) (local.get $b1))
            (f32.mul (local.get $gs) (local.get $omb1))))
        (local.set $count (i32.add (local.get $count) (i32.and (i32.and (f32.gt (f32.abs (local.get $ms)) (f32.const 0)) (f32.gt (f32.abs (local.get $gs)) (f32.const 0))) (i32.ge_s (i32.xor (i32.reinterpret_f32 (local.get $ms)) (i32.reinterpret_f32 (local.get $gs))) (i32.const 0)))))
        (local.set $o (i32.add (local.get $o) (i32.const 4)))
        (br $tail)))
    (local.get $count))

  ;; 1 if every element of g is finite, else 0. x * 0 is 0 for finite x and NaN otherwise, so
  ;; the lanes of acc stay 0 exactly when all are finite (NaN + anything is NaN).
  (func (export "all_finite") (param $g i32) (param $n i32) (result i32)
    (local $o i32) (local $end i32) (local $acc v128) (local $s f32)
    (local.set $end (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2)))
    (block $done
      (loop $loop
        (br_if $done (i32.ge_u (local.get $o) (local.get $end)))
        (local.set $acc
          (f32x4.add (local.get $acc)
            (f32x4.mul (v128.load (i32.add (local.get $g) (local.get $o))) (f32x4.splat (f32.const 0)))))
        (local.set $o (i32.add (local.get $o) (i32.const 16)))
        (br $loop)))
    (local.set $s
      (f32.add
        (f32.add (f32x4.extract_lane 0 (local.get $acc)) (f32x4.extract_lane 1 (local.get $acc)))
        (f32.add (f32x4.extract_lane 2 (local.get $acc)) (f32x4.extract_lane 3 (local.get $acc)))))
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $o) (local.get $end)))
        (local.set $s (f32.add (local.get $s) (f32.mul (f32.load (i32.add (local.get $g) (local.get $o))) (f32.const 0))))
        (local.set $o (i32.add (local.get $o) (i32.const 4)))
        (br $tail)))
    (f32.eq (local.get $s) (f32.const 0)))
)
