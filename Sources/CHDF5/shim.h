// The one place Locus sees HDF5. Macros Swift cannot import become static inline functions.
#ifndef LOCUS_CHDF5_SHIM_H
#define LOCUS_CHDF5_SHIM_H
#include <hdf5.h>
#include <hdf5_hl.h>

static inline unsigned locus_H5F_ACC_TRUNC(void) { return H5F_ACC_TRUNC; }
static inline unsigned locus_H5F_ACC_EXCL(void) { return H5F_ACC_EXCL; }
static inline unsigned locus_H5F_ACC_RDONLY(void) { return H5F_ACC_RDONLY; }
static inline unsigned locus_H5F_ACC_RDWR(void) { return H5F_ACC_RDWR; }
static inline hid_t locus_H5P_DEFAULT(void) { return H5P_DEFAULT; }
static inline hid_t locus_H5S_ALL(void) { return H5S_ALL; }
static inline hid_t locus_H5T_NATIVE_FLOAT(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t locus_H5T_NATIVE_DOUBLE(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t locus_H5T_NATIVE_INT32(void) { return H5T_NATIVE_INT32; }
static inline hid_t locus_H5T_NATIVE_INT64(void) { return H5T_NATIVE_INT64; }
static inline hid_t locus_H5T_NATIVE_UINT8(void) { return H5T_NATIVE_UINT8; }
static inline hid_t locus_H5T_C_S1(void) { return H5T_C_S1; }
static inline hid_t locus_H5P_DATASET_CREATE(void) { return H5P_DATASET_CREATE; }
static inline size_t locus_H5T_VARIABLE(void) { return H5T_VARIABLE; }
/// A file-access property list whose files use the HDF5 1.8+ format, where attributes larger than
/// 64 KiB are stored densely (the earliest format refuses them). The caller closes it.
static inline hid_t locus_file_access_dense_attributes(void) {
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_LATEST);
    return fapl;
}
static inline H5E_auto2_t locus_no_error_printing(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); return NULL; }
#endif
