// A small parallel-for over [0, n) on std::thread: CPU kernels use all cores without OpenMP
// (torch ships its own libgomp; a second OpenMP runtime in one process invites trouble).
// The thread count is std::thread::hardware_concurrency(), or HPEFAST_NUM_THREADS when set.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace hpefast {

inline int num_threads() {
  static const int n = [] {
    if (const char* env = std::getenv("HPEFAST_NUM_THREADS")) {
      int v = std::atoi(env);
      if (v > 0) return v;
    }
    unsigned hc = std::thread::hardware_concurrency();
    return hc == 0 ? 1 : static_cast<int>(hc);
  }();
  return n;
}

// Calls fn(begin, end) on disjoint chunks covering [0, n). `grain` is the smallest chunk worth a
// thread; work smaller than that runs inline. Exceptions thrown by fn are re-thrown on the caller.
template <typename F>
void parallel_for(int64_t n, int64_t grain, F&& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  const int64_t max_chunks = (n + grain - 1) / grain;
  const int64_t threads = std::min<int64_t>(num_threads(), max_chunks);
  if (threads <= 1) {
    fn(int64_t(0), n);
    return;
  }
  const int64_t chunk = (n + threads - 1) / threads;
  std::exception_ptr error;
  std::mutex error_mutex;
  auto run = [&](int64_t b, int64_t e) {
    try {
      fn(b, e);
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
    }
  };
  std::vector<std::thread> pool;
  std::vector<std::pair<int64_t, int64_t>> inline_chunks;  // chunks no thread could be started for
  pool.reserve(static_cast<size_t>(threads - 1));
  for (int64_t t = 1; t < threads; ++t) {
    const int64_t b = t * chunk, e = std::min(n, b + chunk);
    if (b >= e) continue;
    try {
      pool.emplace_back(run, b, e);
    } catch (...) {  // e.g. std::system_error under a thread limit: do the work here instead
      inline_chunks.emplace_back(b, e);
    }
  }
  run(0, std::min(n, chunk));
  for (const auto& c : inline_chunks) run(c.first, c.second);
  for (auto& th : pool) th.join();  // every started thread is joined: never std::terminate
  if (error) std::rethrow_exception(error);
}

}  // namespace hpefast
