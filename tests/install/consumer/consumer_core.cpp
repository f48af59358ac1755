// Uses difftriage::core from an installed package: writes a frame with one bright spot, reads it
// back through the format probe and finds the spot. Prints "spots 1" on success.
#include <cstdio>
#include <filesystem>

#include "difftriage/core/image.h"
#include "difftriage/features/spots.h"
#include "difftriage/io/image_io.h"

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  const std::filesystem::path path = std::filesystem::path(argv[1]) / "consumer.pgm";
  difftriage::Image<uint16_t> frame(64, 64, 10);
  for (int ds = -1; ds <= 1; ++ds)
    for (int df = -1; df <= 1; ++df) frame(20 + ds, 30 + df) = 4000;
  difftriage::io::write_pgm(path, frame.view());
  const difftriage::Image<float> back = difftriage::to_float(difftriage::io::read_image(path));
  const auto spots = difftriage::features::find_spots(back.view());
  std::printf("spots %zu\n", spots.size());
  return spots.size() == 1 ? 0 : 1;
}
