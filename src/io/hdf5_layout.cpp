// HDF5 reader: which layout a file has and what it holds (hdf5_layout.h).
//
// Layouts, tried in this order:
//  - EIGER/NeXus master: links /entry/data/data_NNNNNN (hdf5_nexus_layout.cpp). Frame k counts
//    across the data files in link-name order; external links are resolved relative to the
//    master's folder (hdf5_links.cpp).
//  - EIGER data file, or any NeXus file with one stack: /entry/data/data.
//  - CXI: /entry_1/data_1/data (hdf5_cxi_layout.cpp).
// A 2-D dataset is one frame; a 3-D one is (frames, slow, fast).
//
// Reading frame k of an EIGER master used to open the master, every data file up to k, read the
// metadata and the whole pixel_mask (uint32, 4 bytes a pixel) for every frame. A FileInfo keeps
// what does not change between frames: the layout, each data link's resolved file and frame
// count, the metadata and the mask. A data file still missing when the master is described
// (a series still being written) is re-resolved whenever a frame at or beyond it is asked for.
#include "hdf5_layout.h"

#include "format_registry.h"
#include "hdf5_cxi_layout.h"
#include "hdf5_isolation.h"
#include "hdf5_links.h"
#include "hdf5_nexus_layout.h"

namespace difftriage::io::detail::hdf5 {

using ::difftriage::detail::concat;

namespace {

// Reads the pixel mask for frames of n_slow x n_fast (once per shape).
void ensure_mask(FileInfo& info, hid_t file, int64_t n_slow, int64_t n_fast) {
  if (!info.eiger || (info.mask_read && info.mask_slow == n_slow && info.mask_fast == n_fast)) {
    return;
  }
  info.pixel_mask = read_pixel_mask(file, n_slow, n_fast);
  info.mask_read = true;
  info.mask_slow = n_slow;
  info.mask_fast = n_fast;
}

}  // namespace

FileLayout find_layout(hid_t file, const std::string& name) {
  FileLayout found;
  if (is_group(file, "/entry/data") && !(found.links = master_data_links(file)).empty()) {
    found.layout = Layout::kEigerMaster;
  } else if (link_exists(file, "/entry/data/data")) {
    found.layout = Layout::kNexusStack;
    found.stack_path = "/entry/data/data";
  } else if (link_exists(file, "/entry_1/data_1/data")) {
    found.layout = Layout::kCxi;
    found.stack_path = "/entry_1/data_1/data";
  } else {
    throw_format_error(name, "HDF5 file without a known image dataset (looked for EIGER/NeXus "
                             "/entry/data/data_NNNNNN and /entry/data/data, and CXI "
                             "/entry_1/data_1/data)");
  }
  return found;
}

OpenDataset open_part(DataPart& part, const std::string& name, const fs::path* dir) {
  std::error_code ec;
  if (!part.file.empty() && !fs::is_regular_file(part.file, ec)) part.file.clear();  // gone
  if (part.file.empty()) part.file = resolve_external(name, part.link, part.target, dir);
  OpenDataset data = open_external(name, part.link, part.file, part.target.object);
  const Stack stack = stack_shape(data.dataset.get(), name, data.label);
  part.n_frames = stack.n_frames;
  part.n_slow = stack.n_slow;
  part.n_fast = stack.n_fast;
  return data;
}

std::shared_ptr<FileInfo> describe_file(hid_t file, const std::string& name, const fs::path* dir) {
  auto info = std::make_shared<FileInfo>();
  info->layout = find_layout(file, name);
  const Layout layout = info->layout.layout;
  if (layout == Layout::kCxi) {
    info->cxi_detector = read_cxi_metadata(file, &info->metadata);
  } else {
    info->eiger = true;
    read_nexus_metadata(file, &info->metadata);
    const std::string kind = layout == Layout::kEigerMaster ? "NeXus master" : "NeXus/EIGER data";
    info->metadata.detector =
        info->metadata.detector.empty() ? kind : info->metadata.detector + " (" + kind + ")";
  }
  int64_t n_slow = 0, n_fast = 0;
  if (layout == Layout::kEigerMaster) {
    for (const std::string& link : info->layout.links) {
      DataPart part;
      part.link = link;
      part.target = read_link(file, name, link);
      if (!part.target.external) {
        // A dataset inside the master itself: its shape is read now (the master is open).
        OpenDataset data = open_internal(file, name, link);
        const Stack stack = stack_shape(data.dataset.get(), name, data.label);
        part.n_frames = stack.n_frames;
        part.n_slow = stack.n_slow;
        part.n_fast = stack.n_fast;
      } else if (dir != nullptr) {
        try {
          open_part(part, name, dir);
        } catch (const FormatError&) {
          // Missing or unreadable for now: resolved again (and reported) when a frame needs it.
          part.file.clear();
          part.n_frames = -1;
        }
      }
      if (n_slow == 0 && part.n_frames >= 0) {
        n_slow = part.n_slow;
        n_fast = part.n_fast;
      }
      info->parts.push_back(std::move(part));
    }
  } else {
    OpenDataset data = open_dataset(file, name, info->layout.stack_path, dir);
    const Stack stack = stack_shape(data.dataset.get(), name, data.label);
    n_slow = stack.n_slow;
    n_fast = stack.n_fast;
  }
  if (n_slow > 0) ensure_mask(*info, file, n_slow, n_fast);
  return info;
}

hid_t LazyFile::get() {
  if (given_ >= 0) return given_;
  if (!owned_.valid()) {
    check_in_child_first(name_, "", name_);
    owned_ = Hid(H5Fopen(name_.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
    if (!owned_.valid()) throw_format_error(name_, "cannot open as HDF5: ", hdf5_reason());
  }
  return owned_.get();
}

FrameRead read_described(FileInfo& info, LazyFile& file, const std::string& name,
                         const fs::path* dir, int64_t frame, bool cached) {
  FrameRead read;
  read.eiger = info.eiger;
  read.metadata = info.metadata;
  if (info.layout.layout == Layout::kEigerMaster) {
    // Frame k counts across the data files in link order.
    int64_t first = 0;
    for (DataPart& part : info.parts) {
      OpenDataset data;
      const int64_t known = part.n_frames;
      if (part.n_frames < 0 || (frame >= first && frame < first + part.n_frames)) {
        if (!part.target.external) {
          data = open_internal(file.get(), name, part.link);
        } else {
          data = open_part(part, name, dir);  // throws naming the link when the file is missing
        }
        if (known >= 0 && part.n_frames != known) {
          if (cached) throw StaleInfo{};  // the data file changed since it was described
        }
      }
      if (frame >= first && frame < first + part.n_frames) {
        const Stack stack = stack_shape(data.dataset.get(), name, data.label);
        read.raw = read_frame_bytes(data.dataset.get(),
                                    concat(name, ": dataset ", data.label, ", frame ", frame,
                                           " (frame ", frame - first, " of that dataset)"),
                                    stack, frame - first);
        break;
      }
      first += part.n_frames;
      if (&part == &info.parts.back()) {
        throw_format_error(name, "frame ", frame, " out of range, file has ", first,
                           " frame(s) in ", info.parts.size(), " data file(s)");
      }
    }
  } else {
    OpenDataset data = open_dataset(file.get(), name, info.layout.stack_path, dir);
    const Stack stack = stack_shape(data.dataset.get(), name, data.label);
    if (frame < 0 || frame >= stack.n_frames) {
      throw_format_error(name, "frame ", frame, " out of range, file has ", stack.n_frames,
                         " frame(s) (dataset ", data.label, ")");
    }
    read.raw = read_frame_bytes(data.dataset.get(),
                                concat(name, ": dataset ", data.label, ", frame ", frame), stack,
                                frame);
    if (info.layout.layout == Layout::kCxi) {
      read.pixel_mask = read_cxi_mask(file.get(), info.cxi_detector, frame, stack.n_frames,
                                      stack.n_slow, stack.n_fast);
    }
  }
  if (info.eiger) {
    if (!info.mask_read || info.mask_slow != read.raw.n_slow || info.mask_fast != read.raw.n_fast) {
      ensure_mask(info, file.get(), read.raw.n_slow, read.raw.n_fast);
    }
    read.pixel_mask = info.pixel_mask;
  }
  return read;
}

int64_t count_described(FileInfo& info, LazyFile& file, const std::string& name,
                        const fs::path* dir) {
  if (info.layout.layout != Layout::kEigerMaster) {
    OpenDataset data = open_dataset(file.get(), name, info.layout.stack_path, dir);
    return stack_shape(data.dataset.get(), name, data.label).n_frames;
  }
  int64_t n_frames = 0;
  for (DataPart& part : info.parts) {
    std::error_code ec;
    if (part.target.external && (part.n_frames < 0 || !fs::is_regular_file(part.file, ec))) {
      open_part(part, name, dir);  // a data file missing now is an error naming it
    }
    n_frames += part.n_frames;
  }
  return n_frames;
}

Hid open_file_image(const uint8_t* bytes, size_t n_bytes, const std::string& name) {
  Hid fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  if (H5Pset_fapl_core(fapl.get(), 1 << 16, 0) < 0 ||
      H5Pset_file_image(fapl.get(), const_cast<uint8_t*>(bytes), n_bytes) < 0) {
    throw_format_error(name, "cannot set up an in-memory HDF5 image: ", hdf5_reason());
  }
  // The core driver refuses to open an image under a name that exists on disk ("file already
  // exists"), so the caller's name (often the file's own path) cannot be used: this one never
  // exists (nothing can be below /dev/null). Messages still use `name`.
  Hid file(H5Fopen("/dev/null/difftriage-in-memory-image", H5F_ACC_RDONLY, fapl.get()),
           H5Fclose);
  if (!file.valid()) throw_format_error(name, "cannot open as HDF5: ", hdf5_reason());
  return file;
}

}  // namespace difftriage::io::detail::hdf5
