// Uses difftriage::ml (LibTorch inside) from an installed package: the compact architecture's
// defaults validate. Prints "compact ok" on success.
#include <cstdio>

#include "difftriage/models/model_info.h"

int main() {
  const auto config = difftriage::models::default_architecture("compact");
  difftriage::models::validate(config);
  std::printf("compact ok\n");
  return 0;
}
