// HPEFAST_HD marks the small per-element functions that the CPU and the CUDA kernel of one op share,
// so both devices compute the same numbers from one body (heatmap/heatmap_math.h, oks/oks.h).
#pragma once

#ifdef __CUDACC__
#define HPEFAST_HD __host__ __device__ __forceinline__
#else
#define HPEFAST_HD inline
#endif
