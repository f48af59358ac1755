// Private to src/train: the process group of data-parallel training (a c10d ProcessGroupGloo,
// or ProcessGroupNCCL in a CUDA LibTorch built with it, over a c10d TCPStore rendezvous). The
// c10d and Gloo headers stay in distributed.cpp, the one file compiled with USE_C10D_GLOO.
#pragma once

#include <memory>
#include <vector>

#include <torch/types.h>

#include "difftriage/train/options.h"

namespace difftriage::train::detail {

/// Whether this build can make a process group for `backend` (the Gloo headers were found at
/// configure time; NCCL: a CUDA LibTorch with NCCL).
bool has_backend(DistBackend backend) noexcept;

/// One rank's membership of the group. Collectives block until every rank has joined them; a
/// rank that died or hangs longer than DistributedOptions::timeout_s makes them throw IoError.
/// Not thread-safe: one thread (the training loop) calls it.
class ProcessGroup {
 public:
  /// Joins the group: rank 0 starts the rendezvous store on master_addr:master_port, the other
  /// ranks connect to it (waiting up to timeout_s). @throws ConfigError for a backend this build
  /// lacks; IoError when the rendezvous fails or times out (naming the address and port).
  explicit ProcessGroup(const DistributedOptions& options);
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;
  ~ProcessGroup();

  int rank() const noexcept;
  int world_size() const noexcept;
  /// Sums `tensor` over the ranks, in place (any device; copied to the backend's device and back
  /// when they differ). Every rank gets the same bits. `what` names the collective in errors.
  void all_reduce_sum(torch::Tensor& tensor, const char* what);
  /// Element-wise minimum and maximum over the ranks (in place), for consistency checks.
  void all_reduce_min(torch::Tensor& tensor, const char* what);
  void all_reduce_max(torch::Tensor& tensor, const char* what);
  /// Copies rank `root`'s `tensor` to every rank, in place.
  void broadcast(torch::Tensor& tensor, int root, const char* what);
  /// Waits for every rank.
  void barrier(const char* what);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace difftriage::train::detail
