#include <cblas.h>
#include <lapacke.h>
// OpenBLAS extensions: used to prove at start-up that OpenBLAS (not the reference BLAS) is linked.
char *openblas_get_corename(void);
int openblas_get_num_threads(void);
void openblas_set_num_threads(int num_threads);
