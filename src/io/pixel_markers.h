// Invalid-pixel markers of detector frames (EIGER/DECTRIS: the all-ones value of the unsigned
// type), found without a per-pixel branch: frames of 4-16 M pixels go through these on every
// read. Private to the io module.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace difftriage::io::detail {

/// True if some data[i] == marker; an OR over blocks (vectorised), stopping at the first block
/// that holds one.
template <typename T>
bool any_equal(const T* data, int64_t n, T marker) {
  constexpr int64_t kBlock = 4096;
  for (int64_t i = 0; i < n; i += kBlock) {
    const int64_t end = std::min(n, i + kBlock);
    uint8_t hit = 0;
    for (int64_t k = i; k < end; ++k) hit |= static_cast<uint8_t>(data[k] == marker);
    if (hit != 0) return true;
  }
  return false;
}

/// Sets (*mask)[i] = 1 where data[i] == marker, leaving the other entries as they are; the mask
/// (n entries) is allocated, zeroed, only when a marker is present.
template <typename T>
void mark_equal(const T* data, int64_t n, T marker, std::vector<uint8_t>* mask) {
  if (!any_equal(data, n, marker)) return;
  if (mask->empty()) mask->assign(static_cast<size_t>(n), 0);
  uint8_t* m = mask->data();
  for (int64_t i = 0; i < n; ++i) m[i] = data[i] == marker ? uint8_t{1} : m[i];
}

/// uint32 pixels read in place as int32: values above INT32_MAX (negative as int32) become -1,
/// and are marked in *mask when `mark_all` or when they are 0xFFFFFFFF (-1). Mask as above.
inline void clamp_uint32_invalid(int32_t* data, int64_t n, bool mark_all,
                                 std::vector<uint8_t>* mask) {
  constexpr int64_t kBlock = 4096;
  int64_t first = n;
  for (int64_t i = 0; i < n && first == n; i += kBlock) {
    const int64_t end = std::min(n, i + kBlock);
    uint8_t hit = 0;
    for (int64_t k = i; k < end; ++k) hit |= static_cast<uint8_t>(data[k] < 0);
    if (hit != 0) first = i;
  }
  for (int64_t i = first; i < n; ++i) {
    if (data[i] >= 0) continue;
    if (mark_all || data[i] == -1) {
      if (mask->empty()) mask->assign(static_cast<size_t>(n), 0);
      (*mask)[static_cast<size_t>(i)] = 1;
    }
    data[i] = -1;
  }
}

}  // namespace difftriage::io::detail
