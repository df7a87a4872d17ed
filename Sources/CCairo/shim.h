// The one place Locus sees Cairo: image and SVG surfaces, paths, gradients and the toy text API for the
// figures of the Plotting module. Macros Swift cannot import become static inline functions here (the parts
// of Cairo that Plotting uses are functions and enums, which Swift imports as they are).
#ifndef LOCUS_CCAIRO_SHIM_H
#define LOCUS_CCAIRO_SHIM_H
#include <cairo.h>
#include <cairo-svg.h>
#endif
