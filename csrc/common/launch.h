// Where an op runs. Every op header ends with an inline dispatcher `void <op>(const Params&, const Launch&)`
// that picks the CPU or the CUDA kernel (detectron2's convention); bindings.cpp calls only dispatchers.
#pragma once

#include "common/check.h"

namespace hpefast {

struct Launch {
  bool cuda = false;        // false: CPU kernel (all cores, common/parallel.h)
  void* stream = nullptr;   // cudaStream_t for CUDA launches (torch.cuda.current_stream()); unused on the CPU
};

#ifdef HPEFAST_WITH_CUDA
constexpr bool kCudaCompiled = true;
#else
constexpr bool kCudaCompiled = false;
#endif

// A CUDA launch asked of a CPU-only build: a clear ValueError instead of a missing symbol.
inline void require_cuda(const char* op) {
  HPEFAST_CHECK(kCudaCompiled, op, ": hpefast was built without CUDA kernels (HPEFAST_CUDA=OFF or no nvcc)");
}

}  // namespace hpefast

// Dispatcher body: `HPEFAST_DISPATCH(op, p, on)` calls op##_cuda(p, on.stream) or op##_cpu(p).
#ifdef HPEFAST_WITH_CUDA
#define HPEFAST_DISPATCH(op, p, on)         \
  do {                                      \
    if ((on).cuda) {                        \
      op##_cuda((p), (on).stream);          \
    } else {                                \
      op##_cpu(p);                          \
    }                                       \
  } while (0)
#else
#define HPEFAST_DISPATCH(op, p, on)         \
  do {                                      \
    if ((on).cuda) ::hpefast::require_cuda(#op); \
    op##_cpu(p);                            \
  } while (0)
#endif
