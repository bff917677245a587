// CUDA error macro for .cu files: turns a failed CUDA call or launch into std::runtime_error
// (pybind11 maps it to RuntimeError) instead of aborting the process.
#pragma once
#include <cuda_runtime.h>
#include <stdexcept>
#include <string>

#define HPEFAST_CUDA_CHECK(expr)                                                          \
  do {                                                                                    \
    cudaError_t _err = (expr);                                                            \
    if (_err != cudaSuccess) {                                                            \
      throw std::runtime_error(std::string("hpefast CUDA error: ") +                      \
                               cudaGetErrorString(_err) + " at " __FILE__ ":" +           \
                               std::to_string(__LINE__));                                 \
    }                                                                                     \
  } while (0)

// Check the last kernel launch (configuration errors); asynchronous faults surface at the next sync.
#define HPEFAST_CUDA_CHECK_LAUNCH() HPEFAST_CUDA_CHECK(cudaGetLastError())

namespace hpefast {
inline int div_up(long long n, int d) { return static_cast<int>((n + d - 1) / d); }
}  // namespace hpefast
