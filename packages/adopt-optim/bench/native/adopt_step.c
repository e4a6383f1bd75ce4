/* The machine's own limit for a float32 ADOPT step: the same math and the same 28 bytes per parameter, in C.
 *
 * Built at bench time by bench/native.ts (cc -O3 -march=native -fopenmp -fno-math-errno -ffp-contract=off) into a
 * temporary directory; never shipped. One kernel, adopt_range, is used by both modes:
 *
 *   adopt_step serve   commands on stdin, one answer line each on stdout (so the bench can interleave it
 *                      with its own steps, repetition by repetition):
 *                        alloc N1 N2 ... Nk   k tensors of those lengths, filled, given their first step
 *                                              (v = g^2) and one more, untimed   -> "ok"
 *                        step T                one timed step of every tensor on T threads  -> seconds
 *                        free                  -> "ok"
 *   adopt_step check   reads "lr beta1 beta2 eps t n" then n lines "p g m v"; applies one step (t = 0: the
 *                      first step, v = g^2 only) and prints n lines "p m v" (%.9g), for the test against the
 *                      float64 reference.
 *
 * The step is docs/ALGORITHM.md §2.3-§2.5 with the defaults of `adopt(1e-3)` (no weight decay, clip t^0.25):
 * per element it reads p, g, m, v and writes p, m, v. Scalars are computed in float64 and rounded to float32,
 * as src/rules/scalars.ts does; every operation is float32 (no fused multiply-add, like WebAssembly SIMD).
 * Several threads split the concatenation of all tensors into equal ranges (one call for all tensors).
 */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
  float lr, beta1, one_minus_beta1, beta2, one_minus_beta2, eps, clip;
  int first; /* t = 0: v = g^2, nothing else */
} Scalars;

static Scalars scalars_at(double lr, double beta1, double beta2, double eps, long t) {
  Scalars s;
  s.lr = (float)lr;
  s.beta1 = (float)beta1;
  s.one_minus_beta1 = (float)(1.0 - beta1);
  s.beta2 = (float)beta2;
  s.one_minus_beta2 = (float)(1.0 - beta2);
  s.eps = (float)eps;
  s.clip = (float)pow((double)t, 0.25); /* c(t), t = steps already applied (§2.5) */
  s.first = t == 0;
  return s;
}

/* One ADOPT step on elements [0, n) of one tensor. */
static void adopt_range(float *restrict p, const float *restrict g, float *restrict m, float *restrict v, size_t n,
                        const Scalars *sc) {
  const float lr = sc->lr, b1 = sc->beta1, ob1 = sc->one_minus_beta1, b2 = sc->beta2, ob2 = sc->one_minus_beta2;
  const float eps = sc->eps, c = sc->clip;
  if (sc->first) {
    for (size_t i = 0; i < n; i++) v[i] = g[i] * g[i];
    return;
  }
  for (size_t i = 0; i < n; i++) {
    const float gi = g[i], vi = v[i];
    const float root = sqrtf(vi);
    float x = gi / (root > eps ? root : eps); /* §2.4 step 2: the v from before this step, eps a floor */
    x = x < -c ? -c : x;                      /* step 3: clamp to [-c(t), c(t)] */
    x = x > c ? c : x;
    const float mi = b1 * m[i] + ob1 * x; /* step 4 */
    m[i] = mi;
    p[i] = p[i] - lr * mi;           /* step 5: with the new m */
    v[i] = b2 * vi + ob2 * (gi * gi); /* step 6 */
  }
}

/* ---- serve: the timed bench partner ---- */

typedef struct {
  size_t count, total;
  size_t *length, *offset;
  float **p, **g, **m, **v;
  long t;
} Table;

static Table table;

static float *alloc_floats(size_t n) {
  size_t bytes = ((n * sizeof(float) + 63) / 64) * 64;
  float *x = aligned_alloc(64, bytes > 0 ? bytes : 64);
  if (x == NULL) {
    fprintf(stderr, "adopt_step: out of memory allocating %zu floats\n", n);
    exit(2);
  }
  return x;
}

static void table_free(void) {
  for (size_t j = 0; j < table.count; j++) {
    free(table.p[j]);
    free(table.g[j]);
    free(table.m[j]);
    free(table.v[j]);
  }
  free(table.length);
  free(table.offset);
  free(table.p);
  free(table.g);
  free(table.m);
  free(table.v);
  memset(&table, 0, sizeof table);
}

/* Elements [lo, hi) of the concatenation of all tensors. */
static void step_span(size_t lo, size_t hi, const Scalars *sc) {
  for (size_t j = 0; j < table.count && lo < hi; j++) {
    const size_t start = table.offset[j], end = start + table.length[j];
    if (end <= lo) continue;
    if (start >= hi) break;
    const size_t a = lo > start ? lo - start : 0, b = (hi < end ? hi : end) - start;
    adopt_range(table.p[j] + a, table.g[j] + a, table.m[j] + a, table.v[j] + a, b - a, sc);
  }
}

static void step_all(int threads) {
  const Scalars sc = scalars_at(1e-3, 0.9, 0.9999, 1e-6, table.t);
  const size_t total = table.total;
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    const size_t k = (size_t)omp_get_thread_num(), nt = (size_t)omp_get_num_threads();
    /* equal ranges, boundaries on 16 floats (a cache line) so that no two threads write one line */
    const size_t lo = k == 0 ? 0 : (total * k / nt) & ~(size_t)15;
    const size_t hi = k + 1 == nt ? total : (total * (k + 1) / nt) & ~(size_t)15;
    step_span(lo, hi, &sc);
  }
  table.t++;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void alloc_command(char *rest) {
  table_free();
  size_t cap = 16;
  table.length = malloc(cap * sizeof(size_t));
  for (char *tok = strtok(rest, " \t\n"); tok != NULL; tok = strtok(NULL, " \t\n")) {
    if (table.count == cap) table.length = realloc(table.length, (cap *= 2) * sizeof(size_t));
    table.length[table.count++] = strtoull(tok, NULL, 10);
  }
  table.offset = malloc(table.count * sizeof(size_t));
  table.p = malloc(table.count * sizeof(float *));
  table.g = malloc(table.count * sizeof(float *));
  table.m = malloc(table.count * sizeof(float *));
  table.v = malloc(table.count * sizeof(float *));
  unsigned state = 12345u;
  for (size_t j = 0; j < table.count; j++) {
    const size_t n = table.length[j];
    table.offset[j] = table.total;
    table.total += n;
    table.p[j] = alloc_floats(n);
    table.g[j] = alloc_floats(n);
    table.m[j] = alloc_floats(n);
    table.v[j] = alloc_floats(n);
    for (size_t i = 0; i < n; i++) {
      state = state * 1664525u + 1013904223u; /* varied gradients in (-0.1, 0.1) */
      table.g[j][i] = ((float)(state >> 8) / 16777216.0f - 0.5f) * 0.2f;
      table.p[j][i] = 0.5f;
      table.m[j][i] = 0.0f;
      table.v[j][i] = 0.0f;
    }
  }
  table.t = 0;
  const int all = omp_get_max_threads();
  step_all(all); /* t = 0: v = g^2 */
  step_all(all); /* one real step: every page touched, as the bench's two warm-up steps do */
  puts("ok");
}

static void step_command(const char *rest) {
  const int threads = atoi(rest);
  if (threads < 1 || table.count == 0) {
    fprintf(stderr, "adopt_step: 'step T' needs T >= 1 and an 'alloc' first\n");
    exit(2);
  }
  if (threads > 1) {
#pragma omp parallel num_threads(threads)
    { /* wake the team (untimed), so the timed step does not pay for a sleeping thread's wake-up */
    }
  }
  const double t0 = now();
  step_all(threads);
  printf("%.9e\n", now() - t0);
}

static int serve(void) {
  static char line[1 << 20];
  while (fgets(line, sizeof line, stdin) != NULL) {
    if (strncmp(line, "alloc ", 6) == 0) alloc_command(line + 6);
    else if (strncmp(line, "step ", 5) == 0) step_command(line + 5);
    else if (strncmp(line, "free", 4) == 0) {
      table_free();
      puts("ok");
    } else {
      fprintf(stderr, "adopt_step: unknown command: %s", line);
      return 2;
    }
    fflush(stdout);
  }
  table_free();
  return 0;
}

/* ---- check: a few elements, for the test ---- */

static int check(void) {
  double lr, beta1, beta2, eps;
  long t;
  size_t n;
  if (scanf("%lf %lf %lf %lf %ld %zu", &lr, &beta1, &beta2, &eps, &t, &n) != 6 || n > (1u << 20)) {
    fprintf(stderr, "adopt_step check: expected 'lr beta1 beta2 eps t n'\n");
    return 2;
  }
  float *p = alloc_floats(n), *g = alloc_floats(n), *m = alloc_floats(n), *v = alloc_floats(n);
  for (size_t i = 0; i < n; i++) {
    if (scanf("%f %f %f %f", &p[i], &g[i], &m[i], &v[i]) != 4) {
      fprintf(stderr, "adopt_step check: expected 'p g m v' on line %zu\n", i + 2);
      return 2;
    }
  }
  const Scalars sc = scalars_at(lr, beta1, beta2, eps, t);
  adopt_range(p, g, m, v, n, &sc);
  for (size_t i = 0; i < n; i++) printf("%.9g %.9g %.9g\n", p[i], m[i], v[i]);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "serve") == 0) return serve();
  if (argc == 2 && strcmp(argv[1], "check") == 0) return check();
  fprintf(stderr, "usage: adopt_step serve | adopt_step check\n");
  return 2;
}
