/// Typed options parsed once at the edge: one table per enum maps the word used on the command
/// line and in JSON files to its value, and back.
///
///   constexpr difftriage::EnumWords<Schedule, 2> kWords = {
///       {{"constant", Schedule::kConstant}, {"cosine", Schedule::kCosine}}};
///   Schedule s = difftriage::parse_enum_word("cosine", "schedule", kWords);
///   const char* w = difftriage::enum_word(s, kWords);  // "cosine"
#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <utility>

#include "difftriage/core/error.h"

namespace difftriage {

/// The words of an enum with N values, in the order they are listed to the user.
template <typename Enum, size_t N>
using EnumWords = std::array<std::pair<const char*, Enum>, N>;

/// The word of `value`, or "?" for a value outside the table. Thread-safe.
template <typename Enum, size_t N>
const char* enum_word(Enum value, const EnumWords<Enum, N>& words) noexcept {
  for (const auto& [word, v] : words) {
    if (v == value) return word;
  }
  return "?";
}

/// The value of `word`.
/// @throws ConfigError "<option>: unknown value 'x' (accepted: a, b, c)".
template <typename Enum, size_t N>
Enum parse_enum_word(const std::string& word, const std::string& option,
                     const EnumWords<Enum, N>& words) {
  std::string accepted;
  for (const auto& [name, value] : words) {
    if (word == name) return value;
    accepted += accepted.empty() ? name : std::string(", ") + name;
  }
  throw ConfigError(detail::concat(option, ": unknown value '", word, "' (accepted: ", accepted,
                                   ")"));
}

}  // namespace difftriage
