// core/parallel.h: the one worker pool — every item once, results in their slots, and the
// exception of the lowest failed item rethrown whatever the thread count.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "difftriage/core/error.h"
#include "difftriage/core/parallel.h"

namespace difftriage {
namespace {

TEST(Parallel, EveryItemOnceWithOneOrManyThreads) {
  for (const int n_threads : {1, 2, 4, 16}) {
    std::vector<int64_t> out(1000, -1);
    std::vector<std::atomic<int>> calls(1000);
    parallel_for(1000, n_threads, [&](int64_t i) {
      out[static_cast<size_t>(i)] = i * i;
      calls[static_cast<size_t>(i)].fetch_add(1);
    });
    for (int64_t i = 0; i < 1000; ++i) {
      ASSERT_EQ(out[static_cast<size_t>(i)], i * i) << n_threads << " threads";
      ASSERT_EQ(calls[static_cast<size_t>(i)].load(), 1) << n_threads << " threads";
    }
  }
}

TEST(Parallel, OneThreadRunsOnTheCallerInIndexOrder) {
  std::vector<int64_t> order;
  const std::thread::id caller = std::this_thread::get_id();
  bool all_on_caller = true;
  parallel_for(5, 1, [&](int64_t i) {
    order.push_back(i);
    all_on_caller = all_on_caller && std::this_thread::get_id() == caller;
  });
  EXPECT_EQ(order, (std::vector<int64_t>{0, 1, 2, 3, 4}));
  EXPECT_TRUE(all_on_caller);
  order.clear();
  parallel_for(3, 0, [&](int64_t i) { order.push_back(i); });  // < 1 counts as 1
  EXPECT_EQ(order, (std::vector<int64_t>{0, 1, 2}));
}

TEST(Parallel, NoItemsNoCalls) {
  int calls = 0;
  parallel_for(0, 4, [&](int64_t) { ++calls; });
  parallel_for(-3, 4, [&](int64_t) { ++calls; });
  EXPECT_EQ(calls, 0);
}

TEST(Parallel, RethrowsTheLowestFailedItemsException) {
  // Items 37 and 80 fail; whatever the threads and timing, item 37's exception comes back, with
  // its type intact.
  for (const int n_threads : {1, 2, 3, 8}) {
    try {
      parallel_for(200, n_threads, [](int64_t i) {
        if (i == 80) throw std::runtime_error("item 80");
        if (i == 37) throw IoError("item 37");
      });
      FAIL() << "no exception with " << n_threads << " threads";
    } catch (const IoError& e) {
      EXPECT_EQ(std::string(e.what()), "item 37") << n_threads << " threads";
    } catch (const std::exception& e) {
      FAIL() << "wrong exception with " << n_threads << " threads: " << e.what();
    }
  }
}

TEST(Parallel, StopsStartingItemsAfterAFailure) {
  std::atomic<int64_t> started{0};
  // Item 0 fails at once; the others take a millisecond each, so without the stop the second
  // thread would go on for a second.
  EXPECT_THROW(parallel_for(1000, 2,
                            [&](int64_t i) {
                              started.fetch_add(1);
                              if (i == 0) throw ConfigError("bad options");
                              std::this_thread::sleep_for(std::chrono::milliseconds(1));
                            }),
               ConfigError);
  EXPECT_LT(started.load(), 1000);
  started = 0;
  EXPECT_THROW(parallel_for(1000, 1,
                            [&](int64_t i) {
                              started.fetch_add(1);
                              if (i == 9) throw ConfigError("bad options");
                            }),
               ConfigError);
  EXPECT_EQ(started.load(), 10);  // one thread: items 0..9, nothing after the failure
}

TEST(Parallel, ResolveThreadCount) {
  EXPECT_EQ(resolve_thread_count(3, 100), 3);
  EXPECT_EQ(resolve_thread_count(8, 5), 5);  // never more threads than items
  EXPECT_EQ(resolve_thread_count(4, 0), 1);  // at least one
  EXPECT_EQ(resolve_thread_count(0, 1000000), std::min(hardware_thread_count(), 1000000));
  EXPECT_EQ(resolve_thread_count(-1, 1000000), hardware_thread_count());
  EXPECT_GE(hardware_thread_count(), 1);
}

}  // namespace
}  // namespace difftriage
