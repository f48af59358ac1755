// The MPI world of a `difftriage` process: `mpirun -n N difftriage classify|simulate` splits the
// frames across ranks (README "Running on a cluster"). mpi.h stays in mpi_world.cpp; this
// interface is MPI-free, and a build without MPI (DIFFTRIAGE_WITH_MPI=OFF) gives a world of one.
//
//   MpiWorld& world = MpiWorld::join();   // MPI_Init only when an MPI launcher started us
//   if (world.size() > 1) {
//     auto parts = world.gather(my_summary);   // on rank 0: one string per rank
//     world.barrier();
//   }
//
// Joining is lazy and per command: only classify and simulate call join(), so other commands
// run under mpirun (train --distributed reads the launcher's environment itself) never touch
// MPI. Without a launcher, join() does not call MPI_Init (an OpenMPI singleton would start a
// daemon): the command runs as one process, exactly as without MPI support.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace difftriage::cli {

/// True when the environment says an MPI launcher started this process: OpenMPI's mpirun
/// (OMPI_COMM_WORLD_SIZE), MPICH/Hydra or a PMI-2 srun (PMI_SIZE), a PMIx launcher such as
/// `srun --mpi=pmix` (PMIX_RANK).
bool launched_by_mpi();

/// "MPI: Open MPI v4.1.4, ..." (the library's MPI_Get_library_version, first line) or
/// "MPI: not built in (...)": what `difftriage --version` shows.
std::string mpi_build_info();

/// This process's place in the MPI job, or a world of one. Thread-safety: call from the main
/// thread only (MPI is initialised with MPI_THREAD_FUNNELED).
class MpiWorld {
 public:
  /// The world of this process, joined on the first call: MPI_Init when launched_by_mpi() and
  /// MPI is built in, else a world of one without MPI. MPI_Finalize runs at process exit.
  /// @throws ConfigError when a launcher started the process but MPI is not built in and the
  ///         launcher asked for more than one process (each would do the whole run).
  static MpiWorld& join();

  int rank() const noexcept { return rank_; }
  int size() const noexcept { return size_; }
  /// The host name of this process (for messages naming a rank).
  const std::string& host() const noexcept { return host_; }
  /// Ranks on this node (the launcher's local size; 1 without MPI): for dividing its cores.
  int local_size() const noexcept { return local_size_; }

  /// Waits for every rank. Polls a non-blocking barrier with short sleeps rather than blocking
  /// in MPI: a rank that finished its part first then leaves its core to the others (OpenMPI
  /// busy-waits in blocking calls). A rank that dies makes the launcher end the job.
  void barrier() const;
  /// Every rank's `bytes`, in rank order, on rank 0 (other ranks get an empty vector). Waits for
  /// every rank as barrier() does.
  std::vector<std::string> gather(const std::string& bytes) const;
  /// Rank 0's `bytes`, on every rank.
  std::string broadcast(const std::string& bytes) const;
  /// Ends the whole job with `exit_code` (MPI_Abort; the launcher kills the other ranks); in a
  /// world of one, std::exit(exit_code).
  [[noreturn]] void abort(int exit_code) const;

  /// "rank R of N (HOST)".
  std::string describe() const;

 private:
  MpiWorld() = default;
  int rank_ = 0;
  int size_ = 1;
  int local_size_ = 1;
  bool mpi_ = false;
  std::string host_;
};

/// The contiguous block [begin, end) of `n_items` that `rank` of `size` takes, in whole
/// granules of `granule` items (the last granule may be short): the granules are shared out as
/// evenly as possible, the first ranks taking one more. Blocks follow each other in rank order
/// and cover [0, n_items); a rank may get an empty block.
std::pair<int64_t, int64_t> rank_block(int64_t n_items, int rank, int size, int64_t granule = 1);

/// Runs `step` on every rank, then agrees on the outcome: when it threw on some rank, rank 0
/// prints the error once (once per distinct message, each naming its ranks; a message that
/// every rank gave is printed as a single process prints it) and every rank throws
/// ExitRequest with the exit code of the first failing rank (2 usage, 3 data/IO, 70 internal,
/// as main.cpp maps them). For steps that every rank reaches: setup, and rank 0's merge. In a
/// world of one, `step` runs and its exceptions propagate unchanged.
void run_step_on_all_ranks(const MpiWorld& world, const std::function<void()>& step);

/// Runs `work` (a rank's own part of the run); if it throws, prints "difftriage: error: rank R of
/// N (HOST): MESSAGE" and ends the whole job at once with the mapped exit code
/// (MpiWorld::abort): the other ranks do not wait for a rank that will never report. In a world
/// of one, exceptions propagate unchanged.
void run_part_or_abort(const MpiWorld& world, const std::function<void()>& work);

}  // namespace difftriage::cli
