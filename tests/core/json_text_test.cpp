// Any byte string in JSON (json_text.h): UTF-8 checks, base64 via libsodium, exact paths back.
#include "difftriage/core/json_text.h"

#include <gtest/gtest.h>

#include <string>

#include "difftriage/core/error.h"

namespace difftriage {
namespace {

TEST(JsonText, Utf8ValidationFollowsTheUnicodeTable) {
  EXPECT_TRUE(is_valid_utf8("plain ascii"));
  EXPECT_TRUE(is_valid_utf8("fr\xc3\xa9" "d\xc3\xa9ric"));       // é as UTF-8
  EXPECT_TRUE(is_valid_utf8("\xf0\x9f\x98\x80"));                 // U+1F600
  EXPECT_FALSE(is_valid_utf8("fr\xe9" "d\xe9ric"));               // Latin-1 é
  EXPECT_FALSE(is_valid_utf8("\xc0\xaf"));                        // overlong '/'
  EXPECT_FALSE(is_valid_utf8("\xed\xa0\x80"));                    // a surrogate
  EXPECT_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));                // above U+10FFFF
  EXPECT_FALSE(is_valid_utf8("\xe2\x82"));                        // truncated
  EXPECT_EQ(to_utf8_lossy("a\xffz"), "a\xef\xbf\xbdz");
  EXPECT_EQ(to_utf8_lossy("fr\xc3\xa9"), "fr\xc3\xa9");
}

TEST(JsonText, Base64RoundTripsEveryByte) {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (size_t n : {0u, 1u, 2u, 3u, 4u, 255u, 256u}) {
    const std::string bytes = all.substr(0, n);
    EXPECT_EQ(decode_base64(encode_base64(bytes)), bytes) << n;
  }
  EXPECT_EQ(encode_base64("fr\xe9" "d\xe9ric.pgm"), "ZnLpZOlyaWMucGdt");
  EXPECT_EQ(encode_base64("ab"), "YWI=");
  EXPECT_THROW((void)decode_base64("not base64!"), FormatError);
}

TEST(JsonText, PathsAreJsonStringsAndExactWithB64) {
  nlohmann::json row = nlohmann::json::object();
  set_path(row, "ok/\xc3\xa9.cbf");
  EXPECT_EQ(row["path"], "ok/\xc3\xa9.cbf");
  EXPECT_FALSE(row.contains("path_b64"));
  EXPECT_EQ(path_from_json(row).native(), "ok/\xc3\xa9.cbf");
  const std::string raw = "dir/fr\xe9" "d\xe9ric\n.pgm";
  set_path(row, raw);
  EXPECT_EQ(row["path"], "dir/fr\xef\xbf\xbd" "d\xef\xbf\xbdric\n.pgm");
  EXPECT_EQ(path_from_json(row).native(), raw);
  // A dump never throws (nlohmann's default would on the raw bytes).
  nlohmann::json bad = {{"file", raw}};
  EXPECT_THROW((void)bad.dump(), nlohmann::json::exception);
  EXPECT_EQ(nlohmann::json::parse(dump_json(bad))["file"], to_utf8_lossy(raw));
  EXPECT_EQ(nlohmann::json::parse(dump_json(row)), row);
}

}  // namespace
}  // namespace difftriage
