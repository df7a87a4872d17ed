// The one place Locus sees OpenBLAS (CBLAS) and LAPACKE.
#ifndef LOCUS_CBLAS_SHIM_H
#define LOCUS_CBLAS_SHIM_H
#include <cblas.h>
#include <lapacke.h>

// OpenBLAS extensions, declared in cblas.h on Debian; wrapped so Swift sees stable names.
static inline void locus_blas_set_threads(int n) { openblas_set_num_threads(n); }
static inline int locus_blas_threads(void) { return openblas_get_num_threads(); }
static inline const char *locus_blas_corename(void) { return openblas_get_corename(); }
static inline const char *locus_blas_config(void) { return openblas_get_config(); }
#endif
