/// Private to the io module: RAII and error helpers shared by the HDF5 reader (hdf5*.cpp) and the
/// CXI writer (cxi_writer.cpp).
///
/// Every libhdf5 call in difftriage runs under `hdf5_mutex()`: the library keeps process-wide
/// state (the error stack and its printing switch; Debian builds it without
/// --enable-threadsafe, so without any locking of its own).
#pragma once

#include <hdf5.h>

#include <mutex>
#include <string>

namespace difftriage::io::detail {

/// The one mutex around all libhdf5 calls of the process (reader and writer).
std::mutex& hdf5_mutex();

// Owns an HDF5 identifier and closes it with the matching H5?close.
class Hid {
 public:
  Hid() = default;
  Hid(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  ~Hid() { reset(); }
  Hid(Hid&& other) noexcept : id_(other.id_), close_(other.close_) { other.id_ = -1; }
  Hid& operator=(Hid&& other) noexcept {
    if (this != &other) {
      reset();
      id_ = other.id_;
      close_ = other.close_;
      other.id_ = -1;
    }
    return *this;
  }
  Hid(const Hid&) = delete;
  Hid& operator=(const Hid&) = delete;
  hid_t get() const noexcept { return id_; }
  bool valid() const noexcept { return id_ >= 0; }
  /// Gives up ownership without closing (the caller closes and checks the result).
  hid_t release() noexcept {
    const hid_t id = id_;
    id_ = -1;
    return id;
  }
  void reset() noexcept {
    if (id_ >= 0 && close_ != nullptr) close_(id_);
    id_ = -1;
  }

 private:
  hid_t id_ = -1;
  herr_t (*close_)(hid_t) = nullptr;
};

// Turns HDF5's automatic error printing off for the scope (the library never prints).
class QuietErrors {
 public:
  QuietErrors() {
    H5Eget_auto2(H5E_DEFAULT, &func_, &data_);
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  }
  ~QuietErrors() { H5Eset_auto2(H5E_DEFAULT, func_, data_); }
  QuietErrors(const QuietErrors&) = delete;
  QuietErrors& operator=(const QuietErrors&) = delete;

 private:
  H5E_auto2_t func_ = nullptr;
  void* data_ = nullptr;
};

// The innermost message on HDF5's error stack (where the problem was detected), then clears it.
inline std::string hdf5_reason() {
  std::string reason;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_UPWARD,
      [](unsigned n, const H5E_error2_t* error, void* data) -> herr_t {
        if (n == 0 && error->desc != nullptr) *static_cast<std::string*>(data) = error->desc;
        return 0;
      },
      &reason);
  H5Eclear2(H5E_DEFAULT);
  return reason.empty() ? std::string("HDF5 gave no reason") : reason;
}

}  // namespace difftriage::io::detail
