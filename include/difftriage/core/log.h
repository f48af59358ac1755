/// The library never prints: it reports progress and warnings through a replaceable sink.
/// The CLI installs a sink that writes to stderr; tests may capture messages.
#pragma once

#include <functional>
#include <string>

namespace difftriage {

enum class LogLevel { kDebug, kInfo, kWarning, kError };

/// Receives one message. Must be thread-safe: library worker threads may log concurrently.
using LogSink = std::function<void(LogLevel level, const std::string& message)>;

/// Replaces the process-wide sink (the default discards everything). Returns the previous one.
/// Thread-safe.
LogSink set_log_sink(LogSink sink);

/// Sends a message to the current sink. Thread-safe.
void log_message(LogLevel level, const std::string& message);

}  // namespace difftriage
