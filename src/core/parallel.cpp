#include "difftriage/core/parallel.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

namespace difftriage {

int hardware_thread_count() noexcept {
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

int resolve_thread_count(int requested, int64_t n_items) noexcept {
  const int n = requested > 0 ? requested : hardware_thread_count();
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(n, n_items)));
}

void parallel_for(int64_t n_items, int n_threads, const std::function<void(int64_t)>& body) {
  if (n_items <= 0) return;
  std::atomic<int64_t> next{0};
  std::atomic<bool> stop{false};
  std::mutex failure_mutex;
  std::exception_ptr failure;  // of the failed item with the lowest index
  int64_t failure_index = n_items;
  auto work = [&] {
    while (!stop.load()) {
      const int64_t i = next.fetch_add(1);
      if (i >= n_items) break;
      try {
        body(i);
      } catch (...) {
        const std::lock_guard<std::mutex> lock(failure_mutex);
        if (i < failure_index) {
          failure_index = i;
          failure = std::current_exception();
        }
        stop.store(true);
      }
    }
  };
  const int64_t n_workers = std::min<int64_t>(std::max(1, n_threads), n_items);
  std::vector<std::thread> helpers;
  helpers.reserve(static_cast<size_t>(n_workers - 1));
  try {
    for (int64_t t = 1; t < n_workers; ++t) helpers.emplace_back(work);
  } catch (const std::system_error&) {
    // No more threads to be had: the ones started and the caller share the items.
  }
  work();
  for (std::thread& t : helpers) t.join();
  if (failure) std::rethrow_exception(failure);
}

}  // namespace difftriage
