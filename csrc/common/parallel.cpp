// The persistent thread pool behind parallel_for (see parallel.h).
#include "common/parallel.h"

#include <pthread.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

#include "common/check.h"

namespace hpefast {
namespace {

int env_threads() {
  static const int n = [] {
    const char* env = std::getenv("HPEFAST_NUM_THREADS");
    const int v = env ? std::atoi(env) : 0;
    return v > 0 ? v : 0;
  }();
  return n;
}

int hardware_threads() {
  const unsigned hc = std::thread::hardware_concurrency();
  return hc == 0 ? 1 : static_cast<int>(hc);
}

std::atomic<int> g_requested{0};  // 0: not set by set_num_threads
thread_local bool t_in_region = false;

// Tasks of a job are claimed from one atomic counter that carries the job's number in its high bits,
// so a worker that wakes late can never claim a task of a later job. The caller takes part and waits only
// for claimed tasks to finish, not for sleeping workers to wake up: when a worker is slow to be scheduled
// (a busy machine) the caller simply does the remaining tasks itself.
class ThreadPool {
 public:
  // Jobs are serialised; a caller that finds the pool busy runs its tasks inline.
  void run(int64_t tasks, const std::function<void(int64_t)>& task) {
    std::unique_lock<std::mutex> job(job_mutex_, std::try_to_lock);
    if (!job.owns_lock() || tasks >= kIndexLimit) {
      run_inline(tasks, task);
      return;
    }
    grow_to(num_threads() - 1);
    uint64_t gen;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      gen = ++generation_;
      task_ = &task;
      tasks_ = tasks;
      done_.store(0);
      error_ = nullptr;
      next_.store(gen << kIndexBits);
    }
    work_cv_.notify_all();
    t_in_region = true;
    work(gen, tasks, task);
    t_in_region = false;
    std::exception_ptr error;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      done_cv_.wait(lock, [&] { return done_.load() == tasks; });
      task_ = nullptr;
      error = error_;
      error_ = nullptr;
    }
    if (error) std::rethrow_exception(error);
  }

  // Stops and joins workers beyond `workers` (never while a job runs).
  void shrink_to(int workers) {
    std::lock_guard<std::mutex> job(job_mutex_);
    workers = std::max(workers, 0);
    if (static_cast<int>(workers_.size()) <= workers) return;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_from_ = workers;
    }
    work_cv_.notify_all();
    for (size_t i = workers; i < workers_.size(); ++i) workers_[i].join();
    workers_.resize(workers);
    std::lock_guard<std::mutex> lock(mutex_);
    stop_from_ = kNoStop;
  }

  int size() {
    std::lock_guard<std::mutex> lock(mutex_);
    return static_cast<int>(workers_.size());
  }

 private:
  static constexpr int kNoStop = 1 << 30;
  static constexpr int kIndexBits = 24;
  static constexpr int64_t kIndexLimit = int64_t(1) << (kIndexBits - 1);  // parallel_for makes a few per thread

  static void run_inline(int64_t tasks, const std::function<void(int64_t)>& task) {
    const bool outer = !t_in_region;
    t_in_region = true;
    std::exception_ptr error;
    for (int64_t t = 0; t < tasks; ++t) {
      try {
        task(t);
      } catch (...) {
        if (!error) error = std::current_exception();
      }
    }
    if (outer) t_in_region = false;
    if (error) std::rethrow_exception(error);
  }

  // Called with job_mutex_ held. A worker that cannot be started (thread limit) is simply not added.
  void grow_to(int workers) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (int id = static_cast<int>(workers_.size()); id < workers; ++id) {
      try {
        workers_.emplace_back([this, id, seen = generation_] { worker(id, seen); });
      } catch (const std::system_error&) {
        break;
      }
    }
  }

  // Claims tasks of job `gen` until none is left; returns when this thread can claim no more.
  void work(uint64_t gen, int64_t tasks, const std::function<void(int64_t)>& task) {
    for (;;) {
      uint64_t v = next_.load();
      do {
        if ((v >> kIndexBits) != gen || static_cast<int64_t>(v & kIndexMask) >= tasks) return;
      } while (!next_.compare_exchange_weak(v, v + 1));
      try {
        task(static_cast<int64_t>(v & kIndexMask));
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!error_) error_ = std::current_exception();
      }
      if (done_.fetch_add(1) + 1 == tasks) {
        std::lock_guard<std::mutex> lock(mutex_);  // the caller checks done_ under the lock: no lost wake-up
        done_cv_.notify_one();
      }
    }
  }

  void worker(int id, uint64_t seen) {
    t_in_region = true;  // a parallel_for inside a task runs inline
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      work_cv_.wait(lock, [&] { return generation_ != seen || id >= stop_from_; });
      if (id >= stop_from_) return;
      seen = generation_;
      if (task_ == nullptr) continue;  // that job is over already
      // The job cannot end while this thread holds a claimed task, so task_ stays valid for it.
      const std::function<void(int64_t)>& task = *task_;
      const int64_t tasks = tasks_;
      lock.unlock();
      work(seen, tasks, task);
      lock.lock();
    }
  }

  static constexpr uint64_t kIndexMask = (uint64_t(1) << kIndexBits) - 1;

  std::mutex job_mutex_;  // one job at a time; held while resizing
  std::mutex mutex_;      // everything below but next_
  std::condition_variable work_cv_, done_cv_;
  std::vector<std::thread> workers_;
  uint64_t generation_ = 0;
  int stop_from_ = kNoStop;  // workers with id >= stop_from_ exit
  const std::function<void(int64_t)>* task_ = nullptr;
  int64_t tasks_ = 0;
  std::atomic<int64_t> done_{0};  // finished tasks of the current job
  std::exception_ptr error_;
  std::atomic<uint64_t> next_{0};  // (job number << kIndexBits) | next task index
};

// Never destroyed: at interpreter exit the sleeping workers need no join (a joinable std::thread in a
// static destructor would call std::terminate, and joining from atexit can deadlock).
std::atomic<ThreadPool*> g_pool{nullptr};
std::once_flag g_atfork_once;

ThreadPool& pool() {
  std::call_once(g_atfork_once, [] {
    // The child of a fork has none of the parent's workers: give it a fresh pool (the old one leaks,
    // its mutexes may have been held by a parent thread at the fork).
    pthread_atfork(nullptr, nullptr, [] { g_pool.store(nullptr); });
  });
  ThreadPool* p = g_pool.load();
  if (p == nullptr) {
    auto* fresh = new ThreadPool();  // no thread yet: cheap to drop if another caller won the race
    if (g_pool.compare_exchange_strong(p, fresh)) {
      p = fresh;
    } else {
      delete fresh;
    }
  }
  return *p;
}

}  // namespace

int num_threads() {
  if (const int env = env_threads()) return env;
  const int requested = g_requested.load(std::memory_order_relaxed);
  return requested > 0 ? requested : hardware_threads();
}

void set_num_threads(int n) {
  HPEFAST_CHECK(n >= 1, "set_num_threads: n must be >= 1, got ", n);
  g_requested.store(n, std::memory_order_relaxed);
  pool().shrink_to(num_threads() - 1);
}

int pool_workers() { return pool().size(); }

namespace detail {

bool in_parallel_region() { return t_in_region; }

void run_tasks(int64_t tasks, const std::function<void(int64_t)>& task) { pool().run(tasks, task); }

}  // namespace detail
}  // namespace hpefast
