/// The triage pipeline: decode + preprocess on worker threads → bounded queue → batched
/// inference → results handed to a sink in input order.
///
///   auto clf = std::make_shared<const models::Classifier>(models::Classifier::load(dir));
///   stream::TriageOptions opt;  // 2 decode threads, 2 inference workers, batch 32
///   auto stats = stream::run_triage(frames, clf, opt, [&](const stream::FrameResult& r) {
///     /* called on the calling thread, r.index = 0, 1, 2, ... */
///   });
///
/// Stages and threads. `n_decode_threads` workers each take the next frame, read it
/// (io::read_image) and preprocess it (Classifier::prepare); at most `queue_capacity` frames are
/// decoded ahead of the one inference needs next (the bounded queue: memory stays bounded
/// whatever the input size). The calling thread cuts the frames, in input order, into windows
/// of `batch_size` consecutive frames (frames 0..B-1, B..2B-1, ...) and hands the readable
/// frames of each window, as one batch, to one of `n_infer_workers` inference threads; each runs one forward pass with `n_torch_threads` intra-op threads while the decode
/// workers prepare the next frames. The calling thread then hands every result — the failed
/// frames included, at their place — to the sink, in input order. The order of results, and
/// every number in them, does not depend on the thread counts, the queue capacity or the
/// timing; the batch size changes probabilities only by float rounding of the batched
/// convolutions. Because a batch is a window of input positions (an unreadable frame leaves its
/// window one frame short rather than shifting every later batch), a run over frames
/// [k·B, end) of a list gives the same bytes for those frames as a run over the whole list:
/// what `mpirun difftriage classify` relies on to split a run at batch boundaries.
///
/// Why several single-threaded forward passes rather than one multi-threaded one: on a few
/// cores, per-operator OpenMP barriers cost little while the machine is idle but stall a whole
/// forward pass whenever another process takes a core (measured on the 2-core project machine
/// under load: 2 intra-op threads ran 4x slower than 1); concurrent passes on separate batches
/// have no barrier between them and scale as well when idle.
///
/// Fail-open: nothing a frame does aborts the run. A frame that cannot be read or preprocessed
/// is an error result (FrameResult::error names file and frame); when a batch's forward pass
/// throws, its frames are retried one by one so that only the frame at fault becomes an error
/// result. Exceptions never cross threads as exceptions: workers return error strings (an
/// unexpected failure such as bad_alloc travels as a std::exception_ptr and is rethrown on the
/// calling thread after the workers stopped).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "difftriage/models/classifier.h"
#include "difftriage/stream/frame_address.h"
#include "difftriage/features/evidence_stage.h"
#include "difftriage/stream/triage.h"

namespace difftriage::stream {

/// Threads, batching and queueing of run_triage. Maps one-to-one onto `classify`'s flags.
struct TriageOptions {
  /// Worker threads that read and preprocess frames (≥ 1).
  int n_decode_threads = 2;
  /// Forward passes run concurrently, each on its own batch (≥ 1).
  int n_infer_workers = 2;
  /// Intra-op threads of each forward pass (at::set_num_threads, process-wide); 0 leaves the
  /// current setting.
  int n_torch_threads = 1;
  /// Input frames per forward pass (≥ 1): each window of batch_size consecutive frames is one
  /// batch of its readable frames. The last batch may be smaller.
  int64_t batch_size = 32;
  /// Frames decoded ahead of inference at most (≥ 1; values below batch_size serialise decoding
  /// and inference). Each holds one preprocessed input (input_size² floats).
  int64_t queue_capacity = 64;
  /// The spot-evidence stage (features/evidence_stage.h), run on the decode threads after the model's
  /// preprocessing; null: none (results carry no evidence).
  std::shared_ptr<const features::EvidenceStage> evidence;
};

/// @throws ConfigError naming the option (n_decode_threads, n_infer_workers, n_torch_threads,
/// batch_size, queue_capacity) that is out of range.
void validate(const TriageOptions& options);

/// Counts and timing of one run. Plain value type.
struct TriageStats {
  int64_t n_frames = 0;    ///< results delivered (= input frames)
  int64_t n_errors = 0;    ///< results with an error
  int64_t n_batches = 0;   ///< forward passes over full batches (retries not counted)
  double elapsed_s = 0.0;  ///< wall time of run_triage, s
  /// CPU time of the whole process during run_triage (all threads, std::clock), s: with
  /// n_frames, a throughput measure that does not depend on what else the machine runs.
  double cpu_s = 0.0;
  double decode_s = 0.0;      ///< summed over workers: reading + preprocessing, s
  double infer_s = 0.0;       ///< summed over inference workers: forward passes and retries, s
  double frames_per_s = 0.0;  ///< n_frames / elapsed_s (0 when nothing ran)
};

/// Receives each result, in input order, on the thread that called run_triage. If it throws,
/// run_triage stops the workers and rethrows.
using ResultSink = std::function<void(const FrameResult& result)>;

/// Triages `frames` with `classifier` (see the top of this header). Blocks until every frame
/// has been delivered to `sink`, exactly once, in order. Several runs may share one classifier
/// concurrently (they then also share the Torch intra-op thread pool).
/// @throws ConfigError for bad options or a null classifier; whatever `sink` throws.
TriageStats run_triage(const std::vector<FrameAddress>& frames,
                       std::shared_ptr<const models::Classifier> classifier,
                       const TriageOptions& options, const ResultSink& sink);

/// Produces frame `k` (0-based index into the frames of a run) on a decode worker; may throw
/// (the frame then becomes an error result). Must be safe to call concurrently for different k.
using FrameLoader = std::function<AnyImage(int64_t k)>;

/// run_triage over frames that `load` produces instead of io::read_image (a live stream's
/// frames held in memory); `frames` name them in results and errors. Same contract otherwise.
TriageStats run_triage(const std::vector<FrameAddress>& frames, const FrameLoader& load,
                       std::shared_ptr<const models::Classifier> classifier,
                       const TriageOptions& options, const ResultSink& sink);

}  // namespace difftriage::stream
