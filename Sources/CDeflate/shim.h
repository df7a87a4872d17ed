// The one place Locus sees zlib (already a dependency of HDF5): deflate for PNG figures.
#ifndef LOCUS_CZLIB_SHIM_H
#define LOCUS_CZLIB_SHIM_H
#include <zlib.h>
static inline int locus_Z_OK(void) { return Z_OK; }
static inline int locus_Z_BEST_COMPRESSION(void) { return Z_BEST_COMPRESSION; }
#endif
