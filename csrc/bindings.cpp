// The only pybind11 file. Kernels take plain params structs and raw pointers; Python passes tensor
// addresses as integers (tensor.data_ptr()) and, for CUDA, the stream handle as an integer.
// Every binding releases the GIL around kernel work. std::invalid_argument -> ValueError.
//
// Each op owns one section below, in the order of csrc/README.md. Keep sections self-contained.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>

#include "common/check.h"
#include "common/parallel.h"
#include "common/runtime.h"

namespace py = pybind11;

namespace {

template <typename T>
T* as_ptr(std::uintptr_t p) {
  return reinterpret_cast<T*>(p);
}

#ifdef HPEFAST_WITH_CUDA
constexpr bool kCudaCompiled = true;
#else
constexpr bool kCudaCompiled = false;
#endif

// Raises a clear error when a CUDA entry point is called in a CPU-only build.
inline void require_cuda(const char* op) {
  HPEFAST_CHECK(kCudaCompiled, op, ": hpefast was built without CUDA kernels (HPEFAST_CUDA=OFF or no nvcc)");
}

}  // namespace

// ==== section: heatmap (encode / decode) ====
// ==== end section: heatmap ====

// ==== section: loss ====
// ==== end section: loss ====

// ==== section: oks / pckh / coco evaluation ====
// ==== end section: oks ====

PYBIND11_MODULE(_C, m) {
  m.doc() = "hpefast compiled core (CPU kernels, and CUDA kernels when compiled)";
  m.def("cuda_compiled", [] { return kCudaCompiled; }, "True when CUDA kernels were compiled in.");
  m.def("cuda_device_count", [] { return hpefast::cuda_device_count(); },
        "Number of CUDA devices visible to the CUDA runtime (0 without a driver).");
  m.def("num_threads", [] { return hpefast::num_threads(); }, "Threads CPU kernels use.");
  (void)&require_cuda;

  // ==== module defs: heatmap ====
  // ==== end module defs: heatmap ====

  // ==== module defs: loss ====
  // ==== end module defs: loss ====

  // ==== module defs: oks ====
  // ==== end module defs: oks ====
}
