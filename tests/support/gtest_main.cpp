// main() of every test executable (dt_add_test): GoogleTest's usual run, but a run in which
// tests were skipped and none failed exits with kSkipExitCode, which CTest reports as
// "Skipped" (SKIP_RETURN_CODE in cmake/DifftriageTesting.cmake). One CTest test is one
// executable, so without this a skipped GoogleTest read as a pass.
#include <gtest/gtest.h>

#include <cstdio>

#include "support/test_support.h"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  const int rc = RUN_ALL_TESTS();
  const auto* unit = ::testing::UnitTest::GetInstance();
  if (rc == 0 && unit->skipped_test_count() > 0) {
    std::fprintf(stderr, "%d test(s) skipped: CTest reports this executable as skipped\n",
                 unit->skipped_test_count());
    return difftriage::testing::kSkipExitCode;
  }
  return rc;
}
