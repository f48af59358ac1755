/// Items 0..n-1 produced on worker threads and handed out strictly in index order through a
/// bounded window, so the result never depends on the number of workers or their timing. Used by
/// the train module, the evaluation runner and the stream pipeline.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

namespace difftriage::detail {

/// Produces items 0..n_items-1 with `produce(k)` on `n_workers` threads (0: lazily on the
/// caller's thread inside next()), at most `capacity` items ahead of the consumer (the bounded
/// queue). next() returns them in index order. An exception thrown by produce(k) is rethrown by
/// next() when item k is due, after which the pipeline is stopped. The destructor stops and
/// joins the workers. next() must be called from one thread only.
template <typename Item>
class OrderedPipeline {
 public:
  OrderedPipeline(int64_t n_items, int n_workers, int capacity,
                  std::function<Item(int64_t)> produce)
      : n_items_(n_items), capacity_(capacity < 1 ? 1 : capacity), produce_(std::move(produce)) {
    for (int w = 0; w < n_workers; ++w) workers_.emplace_back([this] { work(); });
  }
  OrderedPipeline(const OrderedPipeline&) = delete;
  OrderedPipeline& operator=(const OrderedPipeline&) = delete;
  ~OrderedPipeline() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    changed_.notify_all();
    for (auto& t : workers_) t.join();
  }

  /// The next item in index order, or nullopt after the last one.
  std::optional<Item> next() {
    if (consumed_ >= n_items_) return std::nullopt;
    if (workers_.empty()) return produce_(consumed_++);
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] { return ready_.count(consumed_) > 0; });
    auto node = ready_.extract(consumed_);
    ++consumed_;
    lock.unlock();
    changed_.notify_all();
    if (node.mapped().second) {
      {
        std::lock_guard<std::mutex> guard(mutex_);
        stop_ = true;
      }
      changed_.notify_all();
      std::rethrow_exception(node.mapped().second);
    }
    return std::move(*node.mapped().first);
  }

 private:
  void work() {
    for (;;) {
      int64_t k = 0;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        changed_.wait(lock, [&] {
          return stop_ || claimed_ >= n_items_ || claimed_ < consumed_ + capacity_;
        });
        if (stop_ || claimed_ >= n_items_) return;
        k = claimed_++;
      }
      std::optional<Item> item;
      std::exception_ptr error;
      try {
        item.emplace(produce_(k));
      } catch (...) {
        error = std::current_exception();
      }
      {
        std::lock_guard<std::mutex> lock(mutex_);
        ready_.emplace(k, std::make_pair(std::move(item), error));
      }
      changed_.notify_all();
    }
  }

  const int64_t n_items_;
  const int64_t capacity_;
  std::function<Item(int64_t)> produce_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<int64_t, std::pair<std::optional<Item>, std::exception_ptr>> ready_;
  int64_t claimed_ = 0;
  int64_t consumed_ = 0;
  bool stop_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace difftriage::detail
