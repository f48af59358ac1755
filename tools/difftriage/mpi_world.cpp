// MpiWorld (mpi_world.h): the one file that includes mpi.h. Compiled with
// DIFFTRIAGE_WITH_MPI=1 when CMake found MPI (top-level CMakeLists.txt), else as a world of one.
#include "mpi_world.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "cli_common.h"
#include "difftriage/core/error.h"

#if DIFFTRIAGE_WITH_MPI
// The C API only (MPI COMPONENTS C): no deprecated C++ bindings from mpi.h.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#endif

namespace difftriage::cli {
namespace {

const char* env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : nullptr;
}

#if !DIFFTRIAGE_WITH_MPI
// The job's size as the launcher announced it, or 0 when it did not say.
long launcher_size() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "SLURM_NTASKS"}) {
    if (const char* v = env(name)) return std::strtol(v, nullptr, 10);
  }
  return 0;
}
#endif

std::string host_name() {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) != 0) return "unknown host";
  return name;
}

#if DIFFTRIAGE_WITH_MPI
void check_mpi(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING] = {};
  int n = 0;
  MPI_Error_string(rc, text, &n);
  throw IoError(std::string("MPI: ") + what + " failed: " + text);
}

void finalize_at_exit() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}
#endif

}  // namespace

bool launched_by_mpi() {
  return env("OMPI_COMM_WORLD_SIZE") != nullptr || env("PMI_SIZE") != nullptr ||
         env("PMI_RANK") != nullptr || env("PMIX_RANK") != nullptr;
}

std::string mpi_build_info() {
#if DIFFTRIAGE_WITH_MPI
  char text[MPI_MAX_LIBRARY_VERSION_STRING] = {};
  int n = 0;
  MPI_Get_library_version(text, &n);  // callable before MPI_Init
  std::string version(text, static_cast<size_t>(n));
  const auto end = version.find_first_of(",\n");
  if (end != std::string::npos) version.resize(end);
  return "MPI: " + version + " (DIFFTRIAGE_WITH_MPI; used under mpirun by classify, simulate)";
#else
  return "MPI: not built in (DIFFTRIAGE_WITH_MPI=OFF, or MPI not found at configure time)";
#endif
}

MpiWorld& MpiWorld::join() {
  static MpiWorld* world = [] {
    auto* w = new MpiWorld();  // lives until exit: MPI_Finalize runs from atexit
    w->host_ = host_name();
    if (!launched_by_mpi()) return w;
#if DIFFTRIAGE_WITH_MPI
    int provided = 0;
    check_mpi(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init");
    std::atexit(finalize_at_exit);
    w->mpi_ = true;
    check_mpi(MPI_Comm_rank(MPI_COMM_WORLD, &w->rank_), "MPI_Comm_rank");
    check_mpi(MPI_Comm_size(MPI_COMM_WORLD, &w->size_), "MPI_Comm_size");
    MPI_Comm node;
    check_mpi(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, w->rank_, MPI_INFO_NULL,
                                  &node),
              "MPI_Comm_split_type");
    check_mpi(MPI_Comm_size(node, &w->local_size_), "MPI_Comm_size");
    MPI_Comm_free(&node);
#else
    const long n = launcher_size();
    const char* pmix_rank = env("PMIX_RANK");
    if (n > 1 || (pmix_rank != nullptr && std::string(pmix_rank) != "0")) {
      throw ConfigError(
          "an MPI launcher started " + (n > 1 ? std::to_string(n) : std::string("several")) +
          " processes, but this difftriage was built without MPI (DIFFTRIAGE_WITH_MPI=OFF): "
          "each would do the whole run into the same folder; run it without mpirun, or build "
          "with libopenmpi-dev installed");
    }
#endif
    return w;
  }();
  return *world;
}

void MpiWorld::barrier() const {
#if DIFFTRIAGE_WITH_MPI
  if (!mpi_) return;
  MPI_Request request;
  check_mpi(MPI_Ibarrier(MPI_COMM_WORLD, &request), "MPI_Ibarrier");
  int done = 0;
  for (;;) {
    check_mpi(MPI_Test(&request, &done, MPI_STATUS_IGNORE), "MPI_Test");
    if (done) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
#endif
}

std::vector<std::string> MpiWorld::gather(const std::string& bytes) const {
  if (!mpi_) return {bytes};
#if DIFFTRIAGE_WITH_MPI
  barrier();
  DT_CHECK(bytes.size() < (1u << 31), IoError, "MPI: ", bytes.size(),
           " bytes to gather from one rank exceed 2 GiB");
  const int n = static_cast<int>(bytes.size());
  std::vector<int> sizes(rank_ == 0 ? static_cast<size_t>(size_) : 0);
  check_mpi(MPI_Gather(&n, 1, MPI_INT, sizes.data(), 1, MPI_INT, 0, MPI_COMM_WORLD),
            "MPI_Gather");
  std::vector<int> offsets(sizes.size());
  long long total = 0;
  for (size_t r = 0; r < sizes.size(); ++r) {
    offsets[r] = static_cast<int>(total);
    total += sizes[r];
  }
  DT_CHECK(total < (1ll << 31), IoError, "MPI: ", total, " bytes to gather exceed 2 GiB");
  std::string all(static_cast<size_t>(total), '\0');
  check_mpi(MPI_Gatherv(bytes.data(), n, MPI_BYTE, all.data(), sizes.data(), offsets.data(),
                        MPI_BYTE, 0, MPI_COMM_WORLD),
            "MPI_Gatherv");
  std::vector<std::string> parts;
  for (size_t r = 0; r < sizes.size(); ++r) {
    parts.push_back(all.substr(static_cast<size_t>(offsets[r]), static_cast<size_t>(sizes[r])));
  }
  return parts;
#else
  return {bytes};
#endif
}

std::string MpiWorld::broadcast(const std::string& bytes) const {
  if (!mpi_) return bytes;
#if DIFFTRIAGE_WITH_MPI
  barrier();
  DT_CHECK(bytes.size() < (1u << 31), IoError, "MPI: ", bytes.size(),
           " bytes to broadcast exceed 2 GiB");
  int n = static_cast<int>(bytes.size());
  check_mpi(MPI_Bcast(&n, 1, MPI_INT, 0, MPI_COMM_WORLD), "MPI_Bcast");
  std::string out = rank_ == 0 ? bytes : std::string(static_cast<size_t>(n), '\0');
  check_mpi(MPI_Bcast(out.data(), n, MPI_BYTE, 0, MPI_COMM_WORLD), "MPI_Bcast");
  return out;
#else
  return bytes;
#endif
}

void MpiWorld::abort(int exit_code) const {
  std::fflush(stdout);
  std::fflush(stderr);
#if DIFFTRIAGE_WITH_MPI
  if (mpi_) MPI_Abort(MPI_COMM_WORLD, exit_code);
#endif
  std::exit(exit_code);
}

std::string MpiWorld::describe() const {
  return "rank " + std::to_string(rank_) + " of " + std::to_string(size_) + " (" + host_ + ")";
}

std::pair<int64_t, int64_t> rank_block(int64_t n_items, int rank, int size, int64_t granule) {
  const int64_t n_granules = (n_items + granule - 1) / granule;
  const int64_t base = n_granules / size, extra = n_granules % size;
  const int64_t begin = rank * base + std::min<int64_t>(rank, extra);
  const int64_t end = begin + base + (rank < extra ? 1 : 0);
  return {std::min(n_items, begin * granule), std::min(n_items, end * granule)};
}

namespace {

// The exit code and message main.cpp would give the current exception.
std::pair<int, std::string> describe_current_exception() {
  try {
    throw;
  } catch (const ExitRequest& e) {
    return {e.code, ""};  // already reported
  } catch (const ConfigError& e) {
    return {kExitUsage, std::string("error: ") + e.what()};
  } catch (const Error& e) {
    return {kExitData, std::string("error: ") + e.what()};
  } catch (const std::exception& e) {
    return {kExitInternal, std::string("internal error: ") + e.what()};
  } catch (...) {
    return {kExitInternal, "internal error: unknown exception"};
  }
}

}  // namespace

void run_step_on_all_ranks(const MpiWorld& world, const std::function<void()>& step) {
  if (world.size() == 1) {
    step();
    return;
  }
  std::string status = "0";  // "CODE\nMESSAGE"
  try {
    step();
  } catch (...) {
    const auto [code, message] = describe_current_exception();
    status = std::to_string(code) + "\n" + message;
  }
  const std::vector<std::string> all = world.gather(status);
  std::string decision = "0";
  if (world.rank() == 0) {
    // Distinct messages in rank order, each with the ranks that gave it.
    std::vector<std::pair<std::string, std::vector<int>>> messages;
    int first_code = 0;
    for (size_t r = 0; r < all.size(); ++r) {
      const auto nl = all[r].find('\n');
      const int code = std::atoi(all[r].substr(0, nl).c_str());
      if (code == 0) continue;
      if (first_code == 0) first_code = code;
      const std::string message = nl == std::string::npos ? "" : all[r].substr(nl + 1);
      if (message.empty()) continue;
      auto it = messages.begin();
      while (it != messages.end() && it->first != message) ++it;
      if (it == messages.end()) {
        messages.push_back({message, {}});
        it = messages.end() - 1;
      }
      it->second.push_back(static_cast<int>(r));
    }
    for (const auto& [message, ranks] : messages) {
      if (static_cast<int>(ranks.size()) == world.size()) {
        std::fprintf(stderr, "difftriage: %s\n", message.c_str());
        continue;
      }
      std::string who = ranks.size() == 1 ? "rank " : "ranks ";
      for (size_t i = 0; i < ranks.size(); ++i) {
        who += (i > 0 ? ", " : "") + std::to_string(ranks[i]);
      }
      std::fprintf(stderr, "difftriage: %s of %d: %s\n", who.c_str(), world.size(),
                   message.c_str());
    }
    decision = std::to_string(first_code);
  }
  const int code = std::atoi(world.broadcast(decision).c_str());
  if (code != 0) throw ExitRequest{code};
}

void run_part_or_abort(const MpiWorld& world, const std::function<void()>& work) {
  if (world.size() == 1) {
    work();
    return;
  }
  try {
    work();
  } catch (...) {
    auto [code, message] = describe_current_exception();
    if (code == 0) code = kExitInternal;
    std::fprintf(stderr, "difftriage: %s: %s; ending the job (MPI_Abort)\n",
                 world.describe().c_str(),
                 message.empty() ? "failed" : message.c_str());
    world.abort(code);
  }
}

}  // namespace difftriage::cli
