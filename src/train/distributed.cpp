// The process group of data-parallel training: c10d's TCPStore for the rendezvous and its
// ProcessGroupGloo (Debian's LibTorch exports it; the Gloo headers come from libgloo-dev) or,
// in a CUDA LibTorch built with NCCL, ProcessGroupNCCL. This is the only file compiled with
// c10d's USE_C10D_GLOO (see src/train/CMakeLists.txt), so the rest of the project never sees
// the c10d or Gloo headers.
#include "distributed.h"

#include <chrono>
#include <cstdio>
#include <string>

#include <c10/util/Exception.h>

#include "difftriage/core/error.h"

#if defined(DIFFTRIAGE_HAVE_GLOO)
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif
#if defined(DIFFTRIAGE_HAVE_NCCL)
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

namespace difftriage::train::detail {

bool has_backend(DistBackend backend) noexcept {
  switch (backend) {
    case DistBackend::kGloo:
#if defined(DIFFTRIAGE_HAVE_GLOO)
      return true;
#else
      return false;
#endif
    case DistBackend::kNccl:
#if defined(DIFFTRIAGE_HAVE_GLOO) && defined(DIFFTRIAGE_HAVE_NCCL)
      return true;
#else
      return false;
#endif
  }
  return false;
}

#if defined(DIFFTRIAGE_HAVE_GLOO)

namespace {

// "rank 1 of 2 (127.0.0.1:29500)": the prefix of every distributed error.
std::string who(const DistributedOptions& o) {
  return "distributed: rank " + std::to_string(o.rank) + " of " + std::to_string(o.world_size) +
         " (rendezvous " + o.master_addr + ":" + std::to_string(o.master_port) + ")";
}

std::chrono::milliseconds timeout_of(const DistributedOptions& o) {
  return std::chrono::milliseconds(static_cast<int64_t>(o.timeout_s * 1000.0 + 0.5));
}

// "2 s", "0.5 s".
std::string seconds_text(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g s", s);
  return buf;
}

// An exception's message without c10's backtrace.
std::string message_of(const std::exception& e) {
  if (const auto* c = dynamic_cast<const c10::Error*>(&e)) return c->what_without_backtrace();
  return e.what();
}

bool is_loopback(const std::string& addr) {
  return addr == "localhost" || addr.rfind("127.", 0) == 0 || addr == "::1";
}

}  // namespace

struct ProcessGroup::Impl {
  DistributedOptions options;
  c10::intrusive_ptr<c10d::Store> store;
  // The backend by its own type (a c10d::ProcessGroup in LibTorch 1.x, a c10d::Backend in 2.x:
  // the collectives have the same signatures in both).
  c10::intrusive_ptr<c10d::ProcessGroupGloo> gloo;
#if defined(DIFFTRIAGE_HAVE_NCCL)
  c10::intrusive_ptr<c10d::ProcessGroupNCCL> nccl;
#endif
  torch::Device comm_device{torch::kCPU};  // where the backend wants its tensors

  // Runs one collective, launch(backend, tensors), on `tensor` (copied to comm_device and back
  // when needed) and waits for it.
  template <typename Launch>
  void run(torch::Tensor& tensor, const char* what, Launch launch) {
    const bool moved = tensor.device().type() != comm_device.type();
    std::vector<at::Tensor> tensors{moved ? tensor.to(comm_device) : tensor};
    try {
      if (gloo) {
        launch(*gloo, tensors)->wait();
      } else {
#if defined(DIFFTRIAGE_HAVE_NCCL)
        launch(*nccl, tensors)->wait();
#endif
      }
    } catch (const std::exception& e) {
      throw IoError(who(options) + ": " + what +
                    " failed: another rank has died, hangs or is unreachable (ranks wait "
                    "--dist-timeout " +
                    seconds_text(options.timeout_s) + " for each other). " + message_of(e));
    }
    if (moved) tensor.copy_(tensors[0]);
  }
};

ProcessGroup::ProcessGroup(const DistributedOptions& o) : impl_(std::make_unique<Impl>()) {
  DT_CHECK(has_backend(o.backend), ConfigError, "distributed.backend ",
           dist_backend_name(o.backend),
           ": this LibTorch build has no NCCL (Debian's libtorch-dev is CPU-only, without CUDA "
           "or NCCL); use the gloo backend");
  impl_->options = o;
  const auto timeout = timeout_of(o);
  try {
    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(o.master_port);
    so.isServer = o.rank == 0;
    so.numWorkers = static_cast<size_t>(o.world_size);
    so.waitWorkers = true;
    so.timeout = timeout;
    impl_->store = c10::make_intrusive<c10d::TCPStore>(o.master_addr, so);
  } catch (const std::exception& e) {
    throw IoError(who(o) + ": the rendezvous failed: " +
                  (o.rank == 0 ? std::string("rank 0 could not listen on port ") +
                                     std::to_string(o.master_port) +
                                     " or not every rank connected within --dist-timeout"
                               : std::string("could not reach rank 0 within --dist-timeout")) +
                  " (" + seconds_text(o.timeout_s) + "). " + message_of(e));
  }
  try {
    if (o.backend == DistBackend::kGloo) {
      auto go = c10d::ProcessGroupGloo::Options::create(timeout);
      if (!o.interface.empty()) {
        go->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(o.interface));
      } else if (is_loopback(o.master_addr)) {
        go->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
      } else {
        go->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      }
      impl_->gloo =
          c10::make_intrusive<c10d::ProcessGroupGloo>(impl_->store, o.rank, o.world_size, go);
    } else {
#if defined(DIFFTRIAGE_HAVE_NCCL)
      auto no = c10d::ProcessGroupNCCL::Options::create();
      no->timeout = timeout;
      impl_->nccl =
          c10::make_intrusive<c10d::ProcessGroupNCCL>(impl_->store, o.rank, o.world_size, no);
      impl_->comm_device = torch::Device(torch::kCUDA);
#endif
    }
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw IoError(who(o) + ": cannot form the " + dist_backend_name(o.backend) +
                  " process group: not every rank joined within --dist-timeout (" +
                  seconds_text(o.timeout_s) + "). " + message_of(e));
  }
}

ProcessGroup::~ProcessGroup() = default;

int ProcessGroup::rank() const noexcept { return impl_->options.rank; }
int ProcessGroup::world_size() const noexcept { return impl_->options.world_size; }

namespace {
c10d::AllreduceOptions reduce_with(c10d::ReduceOp::RedOpType op) {
  c10d::AllreduceOptions ao;
  ao.reduceOp = c10d::ReduceOp(op);
  return ao;
}
}  // namespace

void ProcessGroup::all_reduce_sum(torch::Tensor& tensor, const char* what) {
  impl_->run(tensor, what, [&](auto& backend, std::vector<at::Tensor>& t) {
    return backend.allreduce(t, reduce_with(c10d::ReduceOp::SUM));
  });
}

void ProcessGroup::all_reduce_min(torch::Tensor& tensor, const char* what) {
  impl_->run(tensor, what, [&](auto& backend, std::vector<at::Tensor>& t) {
    return backend.allreduce(t, reduce_with(c10d::ReduceOp::MIN));
  });
}

void ProcessGroup::all_reduce_max(torch::Tensor& tensor, const char* what) {
  impl_->run(tensor, what, [&](auto& backend, std::vector<at::Tensor>& t) {
    return backend.allreduce(t, reduce_with(c10d::ReduceOp::MAX));
  });
}

void ProcessGroup::broadcast(torch::Tensor& tensor, int root, const char* what) {
  impl_->run(tensor, what, [&](auto& backend, std::vector<at::Tensor>& t) {
    c10d::BroadcastOptions bo;
    bo.rootRank = root;
    return backend.broadcast(t, bo);
  });
}

void ProcessGroup::barrier(const char* what) {
  // A one-element all-reduce: Gloo's barrier and NCCL's differ in what they need, this does not.
  auto t = torch::zeros({1}, torch::kInt64);
  all_reduce_sum(t, what);
}

#else  // no Gloo headers at configure time

struct ProcessGroup::Impl {
  DistributedOptions options;
};

ProcessGroup::ProcessGroup(const DistributedOptions& o) {
  throw ConfigError(std::string("distributed: this difftriage was built without c10d's Gloo "
                                "backend (the Gloo headers, Debian package libgloo-dev, were "
                                "not found at configure time); install libgloo-dev, reconfigure "
                                "and rebuild (requested backend ") +
                    dist_backend_name(o.backend) + ")");
}
ProcessGroup::~ProcessGroup() = default;
int ProcessGroup::rank() const noexcept { return 0; }
int ProcessGroup::world_size() const noexcept { return 1; }
void ProcessGroup::all_reduce_sum(torch::Tensor&, const char*) {}
void ProcessGroup::all_reduce_min(torch::Tensor&, const char*) {}
void ProcessGroup::all_reduce_max(torch::Tensor&, const char*) {}
void ProcessGroup::broadcast(torch::Tensor&, int, const char*) {}
void ProcessGroup::barrier(const char*) {}

#endif

}  // namespace difftriage::train::detail
