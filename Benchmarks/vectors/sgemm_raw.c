// OpenBLAS C baseline for scripts/bench-vectors.sh: C = Q * X^T, row-major, best of 3.
// cc -O2 sgemm_raw.c $(pkg-config --cflags --libs openblas) -o sgemm_raw && ./sgemm_raw 1000 384 100000
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
int main(int argc, char **argv) {
    int m = atoi(argv[1]), k = atoi(argv[2]), n = atoi(argv[3]);
    float *a = malloc(sizeof(float) * m * k), *b = malloc(sizeof(float) * n * k), *c = malloc(sizeof(float) * m * n);
    for (long i = 0; i < (long)m * k; i++) a[i] = (float)rand() / RAND_MAX;
    for (long i = 0; i < (long)n * k; i++) b[i] = (float)rand() / RAND_MAX;
    double best = 1e9;
    for (int r = 0; r < 3; r++) {
        double t = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1, a, k, b, k, 0, c, n);
        t = now() - t; if (t < best) best = t;
    }
    printf("OpenBLAS C: sgemm %d x %d x %d: %.3f s, %.1f GFLOP/s\n", m, k, n, best, 2.0 * m * n * k / best / 1e9);
    return 0;
}
