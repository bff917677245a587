#include "common/cuda_check.h"
#include "common/runtime.h"

namespace hpefast {

int cuda_device_count() {
  int n = 0;
  // With static cudart and no driver this returns cudaErrorInsufficientDriver / NoDevice: report 0.
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky-free error state
    return 0;
  }
  return n;
}

void cuda_synchronize() { HPEFAST_CUDA_CHECK(cudaDeviceSynchronize()); }

}  // namespace hpefast
