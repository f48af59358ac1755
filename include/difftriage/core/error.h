/// Error types and precondition checks shared by every difftriage module.
///
///   try { auto img = difftriage::io::read_image("frame.cbf"); }
///   catch (const difftriage::FormatError& e) { std::cerr << e.what(); }  // names file and frame
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace difftriage {

/// Base of every exception the library throws. The message always names what is at fault
/// (file, line, frame or option).
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Bad options or configuration: an unphysical geometry, an unknown preset, a bad flag value.
/// The CLI maps it to exit code 2.
class ConfigError : public Error {
 public:
  using Error::Error;
};

/// A file cannot be opened, read, written or renamed. The CLI maps it to exit code 3.
class IoError : public Error {
 public:
  using Error::Error;
};

/// A file was read but its content is malformed (bad magic, truncated data, bad label row).
/// The CLI maps it to exit code 3.
class FormatError : public Error {
 public:
  using Error::Error;
};

/// A model or checkpoint is missing, corrupt or does not match. The CLI maps it to exit code 3.
class ModelError : public Error {
 public:
  using Error::Error;
};

namespace detail {
template <typename... Args>
std::string concat(Args&&... args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}
}  // namespace detail

}  // namespace difftriage

/// Precondition check that stays on in release builds. Throws `ExcType` (a difftriage::Error
/// subclass) with the streamed message parts when `cond` is false. Messages name the option
/// field at fault (`distance_mm`), never a CLI flag: the CLI maps fields to its flags.
///   DT_CHECK(distance_mm > 0, ConfigError, "distance_mm must be > 0, got ", distance_mm);
#define DT_CHECK(cond, ExcType, ...)                                   \
  do {                                                                 \
    if (!(cond)) throw ::difftriage::ExcType(::difftriage::detail::concat(__VA_ARGS__)); \
  } while (false)
