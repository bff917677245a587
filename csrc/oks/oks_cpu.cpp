// Batched OKS / PCKh on the CPU (parallel over instances); the per-element bodies are in oks.h.
#include "oks/oks.h"

#include "common/parallel.h"

namespace hpefast {

void oks_cpu(const OksParams& p) {
  check_oks_params(p);
  parallel_for(p.n, 256, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) p.out[i] = oks_instance(p, i);
  });
}

void pckh_cpu(const PckhParams& p) {
  check_pckh_params(p);
  parallel_for(p.n, 256, [&](int64_t begin, int64_t end) {
    for (int64_t q = begin * p.k; q < end * p.k; ++q) p.out[q] = pckh_hit(p, q);
  });
}

}  // namespace hpefast
