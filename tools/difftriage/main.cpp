// difftriage: triage of serial-crystallography diffraction frames.
// Exit codes: 0 ok, 2 usage/config, 3 data/IO, 70 internal.
#include <malloc.h>

#include <cstdio>
#include <exception>
#include <iostream>

#include <CLI/CLI.hpp>

#include "cli_common.h"
#include "commands.h"
#include "difftriage/core/error.h"
#include "difftriage/core/log.h"
#include "difftriage/version.h"
#include "mpi_world.h"

int main(int argc, char** argv) {
  using namespace difftriage;
#ifdef M_MMAP_MAX
  // Detector frames are buffers of 4-72 MB, allocated and freed per frame by every decode
  // thread. glibc serves blocks above its mmap threshold (at most 32 MB, so every EIGER2 16M
  // frame) with a fresh mmap: the kernel zeroes and faults in every page again, which cost more
  // than decoding the frame (perf, scripts/bench-stream). Without mmap and without trimming,
  // the freed pages are reused; the peak memory is unchanged (the same buffers are live at
  // once), the process keeps it until it exits. One arena: a per-thread arena unmaps a heap as
  // soon as it is empty (whatever M_TRIM_THRESHOLD says), which is what a frame-sized block
  // freed by a decode thread leaves (stream on 16M frames: 2.5x the page faults, 1.5x the CPU).
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  mallopt(M_ARENA_MAX, 1);
#endif
  set_log_sink([](LogLevel level, const std::string& message) {
    if (level == LogLevel::kDebug) return;
    const char* prefix = level == LogLevel::kWarning ? "warning: "
                         : level == LogLevel::kError ? "error: "
                                                     : "";
    std::fprintf(stderr, "difftriage: %s%s\n", prefix, message.c_str());
  });

  CLI::App app{"difftriage: triage of X-ray serial-crystallography diffraction frames"};
  // The version, then the optional build features (one line each).
  app.set_version_flag("--version", std::string(kVersion) + " (" + kGitHash + ")\n" +
                                        cli::mpi_build_info());
  app.require_subcommand(1);
  app.fallthrough(false);
  cli::register_info(app);
  cli::register_dataset(app);
  cli::register_simulate(app);
  cli::register_baseline(app);
  cli::register_train(app);
  cli::register_evaluate(app);
  cli::register_calibrate(app);
  cli::register_explain(app);
  cli::register_classify(app);
  cli::register_stream(app);
  cli::register_replay(app);
  cli::register_report(app);
  cli::register_merge(app);

  try {
    app.parse(argc, argv);
    return cli::kExitOk;
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return cli::kExitUsage;
  } catch (const cli::ExitRequest& e) {
    return e.code;
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "difftriage: error: %s\n", e.what());
    return cli::kExitUsage;
  } catch (const Error& e) {  // IoError, FormatError, ModelError
    std::fprintf(stderr, "difftriage: error: %s\n", e.what());
    return cli::kExitData;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "difftriage: internal error: %s\n", e.what());
    return cli::kExitInternal;
  }
}
