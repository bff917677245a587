// parallel_for over [0, n) on a persistent pool of std::threads: CPU kernels use every core without
// OpenMP (torch ships its own libgomp; a second OpenMP runtime in one process invites trouble) and
// without starting threads per call.
//
// Thread count: HPEFAST_NUM_THREADS when set (read once, wins), else the last set_num_threads(n)
// (hpefast.ops passes torch.get_num_threads() whenever it changes), else hardware_concurrency().
// The caller is one of the threads, so the pool holds num_threads() - 1 workers; they start at the
// first parallel call and sleep on a condition variable between calls.
//
// Results do not depend on the thread count: kernels write disjoint elements, each computed alone.
// Nested calls (a parallel_for inside fn) and calls from a second Python thread while the pool is busy
// run inline on the calling thread. A forked child (DataLoader workers) starts a pool of its own.
#pragma once
#include <algorithm>
#include <cstdint>
#include <functional>

namespace hpefast {

int num_threads();             // threads CPU kernels use (>= 1)
void set_num_threads(int n);   // n >= 1; ignored while HPEFAST_NUM_THREADS is set
int pool_workers();            // worker threads alive now (tests: no leak, follows the count)
constexpr int64_t kChunksPerThread = 4;

namespace detail {
bool in_parallel_region();
// Runs task(t) for t in [0, tasks) on the caller and up to tasks - 1 workers; returns when all are done.
// The first exception thrown by a task is re-thrown here after every task finished.
void run_tasks(int64_t tasks, const std::function<void(int64_t)>& task);
}  // namespace detail

// Calls fn(begin, end) on disjoint chunks covering [0, n). `grain` is the smallest chunk worth a
// thread; work smaller than that runs inline. Exceptions thrown by fn are re-thrown on the caller.
template <typename F>
void parallel_for(int64_t n, int64_t grain, F&& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  const int64_t max_chunks = (n + grain - 1) / grain;
  const int64_t threads = std::min<int64_t>(num_threads(), max_chunks);
  if (threads <= 1 || detail::in_parallel_region()) {
    fn(int64_t(0), n);
    return;
  }
  // A few chunks per thread, claimed dynamically: a thread the OS keeps waiting holds up one small chunk,
  // not a whole share of the work.
  const int64_t tasks = std::min<int64_t>(max_chunks, threads * kChunksPerThread);
  const int64_t chunk = (n + tasks - 1) / tasks;
  detail::run_tasks((n + chunk - 1) / chunk, [&](int64_t t) {
    const int64_t b = t * chunk, e = std::min(n, b + chunk);
    if (b < e) fn(b, e);
  });
}

}  // namespace hpefast
