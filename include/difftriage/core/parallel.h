/// The library's one worker pool: independent items on a few threads, with the first failure
/// handed back to the caller (STYLE.md, Errors: worker threads hand exceptions back via
/// std::exception_ptr).
///
///   std::vector<double> out(n);
///   difftriage::parallel_for(n, difftriage::resolve_thread_count(0, n),
///                            [&](int64_t i) { out[i] = work(i); });   // rethrows work's error
///
/// Ordered production with a bounded window (a consumer that needs items in index order while
/// they are being made) is core/ordered_pipeline.h.
#pragma once

#include <cstdint>
#include <functional>

namespace difftriage {

/// The number of hardware threads, at least 1. Thread-safe.
int hardware_thread_count() noexcept;

/// The thread count for `n_items` items: `requested` if > 0, else hardware_thread_count(); then
/// at most n_items and at least 1. Thread-safe.
int resolve_thread_count(int requested, int64_t n_items) noexcept;

/// Calls `body(i)` once for every i in [0, n_items) on up to `n_threads` threads, the calling
/// thread included (never more threads than items; n_threads < 1 counts as 1, which runs every
/// item on the caller in index order). Items are handed out in increasing index order. Results
/// belong in per-item slots, so they do not depend on the thread count or timing.
///
/// When a call throws, no further items are started; the calls already running finish, and then
/// the exception of the failed item with the lowest index is rethrown. Since every item below a
/// failed one was started before it, that is the same exception whatever the thread count (for a
/// `body` whose failures depend only on the item).
/// If the system refuses to start a thread, the threads already running (the caller at least)
/// share the items. @throws whatever `body` throws (see above). Thread-safe if `body` is safe to
/// call concurrently for different items.
void parallel_for(int64_t n_items, int n_threads, const std::function<void(int64_t)>& body);

}  // namespace difftriage
