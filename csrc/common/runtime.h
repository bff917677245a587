// Device queries that bindings.cpp exposes. Implemented in cuda_runtime.cu when CUDA is compiled,
// inline stubs otherwise, so bindings.cpp needs no CUDA header.
#pragma once

namespace hpefast {
#ifdef HPEFAST_WITH_CUDA
int cuda_device_count();  // 0 when there is no driver or no device (never throws)
void cuda_synchronize();
#else
inline int cuda_device_count() { return 0; }
inline void cuda_synchronize() {}
#endif
}  // namespace hpefast
