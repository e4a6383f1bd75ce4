;; The gradient finiteness check (docs/ALGORITHM.md §6.3), hand-written: it is not an update rule.
;; Compiled by scripts/build-kernels.ts (wabt) into src/kernels/generated/.
(module
  (import "env" "memory" (memory 1))

  ;; 1 if every element of g is finite and below 2^63 in magnitude (GRADIENT_LIMIT, src/validate.ts:
  ;; beyond it g² overflows float32), else 0. x * 2^65 is exact and overflows to ±Infinity from
  ;; |x| = 2^63; times 0 that is NaN, and 0 for the rest, so the lanes of acc stay 0 exactly when
  ;; all are in range (NaN + anything is NaN). One more multiply per lane: the loop is memory-bound.
  (func (export "all_finite") (param $g i32) (param $n i32) (result i32)
    (local $o i32) (local $end i32) (local $acc v128) (local $s f32)
    (local.set $end (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2)))
    (block $done
      (loop $loop
        (br_if $done (i32.ge_u (local.get $o) (local.get $end)))
        (local.set $acc
          (f32x4.add (local.get $acc)
            (f32x4.mul (f32x4.mul (v128.load (i32.add (local.get $g) (local.get $o))) (f32x4.splat (f32.const 0x1p65))) (f32x4.splat (f32.const 0)))))
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
        (local.set $s (f32.add (local.get $s) (f32.mul (f32.mul (f32.load (i32.add (local.get $g) (local.get $o))) (f32.const 0x1p65)) (f32.const 0))))
        (local.set $o (i32.add (local.get $o) (i32.const 4)))
        (br $tail)))
    (f32.eq (local.get $s) (f32.const 0)))
;; Σ g² over the n float32 at g, in float64 (gradient clipping by norm, src/gradient_clipping.ts: a float32 sum
  ;; overflows from |g| ≈ 1.8e19 and drops small terms). Two f64 lanes per half of each 4-wide load.
  (func (export "sum_squares") (param $g i32) (param $n i32) (result f64)
    (local $o i32) (local $end i32) (local $x v128) (local $lo v128) (local $hi v128) (local $acc v128) (local $s f64) (local $y f64)
    (local.set $end (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2)))
    (block $done
      (loop $loop
        (br_if $done (i32.ge_u (local.get $o) (local.get $end)))
        (local.set $x (v128.load (i32.add (local.get $g) (local.get $o))))
        (local.set $lo (f64x2.promote_low_f32x4 (local.get $x)))
        (local.set $hi (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $x) (local.get $x))))
        (local.set $acc (f64x2.add (local.get $acc)
          (f64x2.add (f64x2.mul (local.get $lo) (local.get $lo)) (f64x2.mul (local.get $hi) (local.get $hi)))))
        (local.set $o (i32.add (local.get $o) (i32.const 16)))
        (br $loop)))
    (local.set $s (f64.add (f64x2.extract_lane 0 (local.get $acc)) (f64x2.extract_lane 1 (local.get $acc))))
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $o) (local.get $end)))
        (local.set $y (f64.promote_f32 (f32.load (i32.add (local.get $g) (local.get $o)))))
        (local.set $s (f64.add (local.get $s) (f64.mul (local.get $y) (local.get $y))))
        (local.set $o (i32.add (local.get $o) (i32.const 4)))
        (br $tail)))
    (local.get $s))
)
