// The triage pipeline: ordered decode workers → batches → inference workers → sink, in input
// order (see pipeline.h).
#include "difftriage/stream/pipeline.h"

#include <ATen/Parallel.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <ctime>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "difftriage/core/ordered_pipeline.h"
#include "difftriage/core/error.h"
#include "difftriage/io/image_io.h"

namespace difftriage::stream {
namespace {
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// One decoded and preprocessed frame, or why not. Produced on a decode worker; never throws.
struct Decoded {
  std::optional<models::PreparedFrame> prepared;
  std::optional<features::FrameEvidenceResult> evidence;
  std::string error;
};

// The message of the exception being handled, naming the frame when the message does not.
std::string describe_current_exception(const FrameAddress& address) {
  std::string message;
  try {
    throw;
  } catch (const std::exception& e) {
    message = e.what();
  } catch (...) {
    message = "unknown error";
  }
  if (message.find(address.path.string()) == std::string::npos) {
    message = to_event_line(address) + ": " + message;
  }
  return message;
}

// Consecutive results in input order and the readable frames among them, run through one
// forward pass by an inference worker.
struct BatchJob {
  std::vector<FrameResult> results;
  std::vector<models::PreparedFrame> frames;
  std::vector<size_t> slots;  // frames[j] belongs to results[slots[j]]
  bool done = false;
  double infer_s = 0.0;
  std::exception_ptr failure;  // unexpected (bad_alloc): rethrown on the calling thread
};

// Runs `job`'s forward pass; a failing batch is retried frame by frame to isolate the bad one.
void run_job(const models::Classifier& clf, BatchJob& job) {
  const auto start = Clock::now();
  try {
    auto predictions = clf.infer(job.frames);
    for (size_t j = 0; j < job.slots.size(); ++j) {
      job.results[job.slots[j]].prediction = std::move(predictions[j]);
    }
  } catch (...) {
    for (size_t j = 0; j < job.slots.size(); ++j) {
      FrameResult& r = job.results[job.slots[j]];
      try {
        std::vector<models::PreparedFrame> one;
        one.push_back(std::move(job.frames[j]));
        r.prediction = std::move(clf.infer(one).at(0));
      } catch (...) {
        r.error = describe_current_exception(r.address);
      }
    }
  }
  job.frames.clear();  // free the inputs before the results wait for delivery
  job.infer_s = seconds_since(start);
}

// n worker threads running BatchJobs; jobs finish in any order, the caller waits for each in
// submission order. The destructor stops (after the jobs already queued) and joins.
class InferencePool {
 public:
  InferencePool(const models::Classifier& clf, int n_workers) : clf_(clf) {
    for (int w = 0; w < n_workers; ++w) workers_.emplace_back([this] { work(); });
  }
  InferencePool(const InferencePool&) = delete;
  InferencePool& operator=(const InferencePool&) = delete;
  ~InferencePool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
      queue_.clear();  // the caller is leaving (done or unwinding): drop what has not started
    }
    changed_.notify_all();
    for (auto& t : workers_) t.join();
  }

  void submit(std::shared_ptr<BatchJob> job) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      queue_.push_back(std::move(job));
    }
    changed_.notify_all();
  }

  void wait(const BatchJob& job) {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] { return job.done; });
  }

 private:
  void work() {
    // A new thread's OpenMP team size is the runtime default (all cores), not what
    // at::set_num_threads chose on the calling thread; oneDNN convolutions would use that.
    at::init_num_threads();
    for (;;) {
      std::shared_ptr<BatchJob> job;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        changed_.wait(lock, [&] { return stop_ || !queue_.empty(); });
        if (queue_.empty()) return;
        job = std::move(queue_.front());
        queue_.pop_front();
      }
      try {
        run_job(clf_, *job);
      } catch (...) {
        job->failure = std::current_exception();
      }
      {
        std::lock_guard<std::mutex> lock(mutex_);
        job->done = true;
      }
      changed_.notify_all();
    }
  }

  const models::Classifier& clf_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::shared_ptr<BatchJob>> queue_;
  bool stop_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace

void validate(const TriageOptions& o) {
  DT_CHECK(o.n_decode_threads >= 1 && o.n_decode_threads <= 1024, ConfigError,
           "n_decode_threads must be in 1..1024, got ", o.n_decode_threads);
  DT_CHECK(o.n_infer_workers >= 1 && o.n_infer_workers <= 1024, ConfigError,
           "n_infer_workers must be in 1..1024, got ", o.n_infer_workers);
  DT_CHECK(o.n_torch_threads >= 0 && o.n_torch_threads <= 1024, ConfigError,
           "n_torch_threads must be in 0..1024, got ", o.n_torch_threads);
  DT_CHECK(o.batch_size >= 1 && o.batch_size <= 65536, ConfigError,
           "batch_size must be in 1..65536, got ", o.batch_size);
  DT_CHECK(o.queue_capacity >= 1 && o.queue_capacity <= (int64_t{1} << 20), ConfigError,
           "queue_capacity must be in 1..1048576, got ", o.queue_capacity);
}

TriageStats run_triage(const std::vector<FrameAddress>& frames,
                       std::shared_ptr<const models::Classifier> classifier,
                       const TriageOptions& options, const ResultSink& sink) {
  const FrameLoader read = [&frames](int64_t k) {
    const FrameAddress& address = frames[static_cast<size_t>(k)];
    io::ReadOptions read_options;
    read_options.frame = address.frame;
    return io::read_image(address.path, read_options);
  };
  return run_triage(frames, read, std::move(classifier), options, sink);
}

TriageStats run_triage(const std::vector<FrameAddress>& frames, const FrameLoader& load,
                       std::shared_ptr<const models::Classifier> classifier,
                       const TriageOptions& options, const ResultSink& sink) {
  validate(options);
  DT_CHECK(static_cast<bool>(load), ConfigError, "run_triage: no frame loader");
  DT_CHECK(classifier != nullptr, ConfigError, "run_triage: no classifier");
  DT_CHECK(static_cast<bool>(sink), ConfigError, "run_triage: no sink");
  const auto t0 = Clock::now();
  const std::clock_t cpu0 = std::clock();
  // Process-wide; each inference worker picks it up when it first runs an operator.
  if (options.n_torch_threads > 0) at::set_num_threads(options.n_torch_threads);
  const models::Classifier& clf = *classifier;
  const auto n = static_cast<int64_t>(frames.size());
  TriageStats stats;

  std::atomic<int64_t> decode_ns{0};
  auto produce = [&](int64_t k) {
    const auto start = Clock::now();
    const FrameAddress& address = frames[static_cast<size_t>(k)];
    Decoded d;
    try {
      const AnyImage frame = load(k);
      d.prepared = clf.prepare(frame);
      if (options.evidence) d.evidence = options.evidence->measure(frame, address.path);
    } catch (...) {
      d.error = describe_current_exception(address);
    }
    decode_ns += std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count();
    return d;
  };
  // Destruction order on every exit path (a throwing sink included): the inference pool
  // first (declared last), then the decode workers.
  detail::OrderedPipeline<Decoded> queue(n, options.n_decode_threads,
                                         static_cast<int>(options.queue_capacity), produce);
  InferencePool pool(clf, options.n_infer_workers);

  // Batches submitted and not yet delivered, in input order. At most n_infer_workers + 1: one
  // waiting for each worker to finish the batch it runs now.
  std::deque<std::shared_ptr<BatchJob>> in_flight;
  auto deliver_front = [&] {
    std::shared_ptr<BatchJob> job = std::move(in_flight.front());
    in_flight.pop_front();
    pool.wait(*job);
    if (job->failure) std::rethrow_exception(job->failure);
    stats.infer_s += job->infer_s;
    for (const auto& r : job->results) {
      ++stats.n_frames;
      stats.n_errors += r.ok() ? 0 : 1;
      sink(r);
    }
  };
  auto job = std::make_shared<BatchJob>();
  auto submit = [&] {
    if (job->results.empty()) return;
    if (!job->frames.empty()) {
      ++stats.n_batches;
      pool.submit(job);
    } else {
      job->done = true;  // errors only: nothing to run
    }
    in_flight.push_back(std::move(job));
    job = std::make_shared<BatchJob>();
    while (static_cast<int64_t>(in_flight.size()) > options.n_infer_workers) deliver_front();
  };
  for (int64_t k = 0; k < n; ++k) {
    auto item = queue.next();  // produce() does not throw; next() would rethrow bad_alloc
    FrameResult r;
    r.index = k;
    r.address = frames[static_cast<size_t>(k)];
    if (item && item->prepared) {
      job->slots.push_back(job->results.size());
      job->frames.push_back(std::move(*item->prepared));
      r.evidence = std::move(item->evidence);
    } else {
      r.error = item ? std::move(item->error) : "internal error: frame missing from the queue";
    }
    job->results.push_back(std::move(r));
    // A window of batch_size input frames, not batch_size readable ones: batch boundaries then
    // sit at fixed input positions, so a run over a batch-aligned slice of the frames (an MPI
    // rank's block) gives bit-identical results for them (see pipeline.h).
    if (static_cast<int64_t>(job->results.size()) >= options.batch_size) submit();
  }
  submit();
  while (!in_flight.empty()) deliver_front();
  stats.decode_s = 1e-9 * static_cast<double>(decode_ns.load());
  stats.elapsed_s = seconds_since(t0);
  stats.cpu_s = static_cast<double>(std::clock() - cpu0) / CLOCKS_PER_SEC;
  stats.frames_per_s =
      stats.elapsed_s > 0 ? static_cast<double>(stats.n_frames) / stats.elapsed_s : 0.0;
  return stats;
}

}  // namespace difftriage::stream
