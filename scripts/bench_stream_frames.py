#!/usr/bin/python3
"""Benchmark frames for scripts/bench-stream, and Debian's bitshuffle decode of the same frames.

  bench_stream_frames.py make --work DIR --count N [--therm-cxi FILE]
  bench_stream_frames.py decode --work DIR [--repeats R]

`make` writes, for each frame set, an HDF5 stack (one bitshuffle-LZ4 chunk per frame, filter
32008 with cd_values {0, 3, 2, 0, 2}, chunks written raw: no HDF5 plugin needed) and a
DECTRIS Stream V1 series as message dumps (msgpack arrays of the message parts, as in
../shared/fixtures) for `difftriage replay`:
  roi4m    the recorded EIGER2 16M (4M ROI) image of ../shared/fixtures, 2068 x 2162 uint16,
           its bitshuffle-LZ4 blob as received;
  tile16m  that frame tiled 2 x 2: 4136 x 4324 uint16 (EIGER2 16M-sized);
  therm16m the real EIGER 16M thermolysin frame (4148 x 4362; from the CXI stack that
           `difftriage classify --hits-cxi` wrote of dlsnxs2cbf_therm_0001.cbf), gaps and bad
           pixels (< 0) set to EIGER's invalid marker 65535, uint16.
`decode` times bitshuffle.decompress_lz4 (Debian's python3 bitshuffle, one thread) on each set's
chunk and prints JSON {set: ms per frame}.

Needs /usr/bin/python3 with numpy and h5py; bitshuffle from Debian's `bitshuffle` package
(PYTHONPATH may point at an unpacked copy of it: its HDF5 plugin is not needed).
"""
import argparse
import json
import os
import struct
import sys
import time

import numpy as np

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared",
                        "fixtures")
HEADER_DUMP = os.path.join(FIXTURES, "eiger2_16m_roi4m_stream1_header.msgpack")
IMAGE_DUMP = os.path.join(FIXTURES, "eiger2_16m_roi4m_stream1_image000044.msgpack")
SETS = ("roi4m", "tile16m", "therm16m")


# ---- msgpack: just what the DECTRIS dumps use ----------------------------------------------
def unpack(b, i=0):
    t = b[i]
    if t <= 0x7F:
        return t, i + 1
    if 0x80 <= t <= 0x8F:
        return _map(b, i + 1, t & 0xF)
    if 0x90 <= t <= 0x9F:
        return _arr(b, i + 1, t & 0xF)
    if 0xA0 <= t <= 0xBF:
        n = t & 0x1F
        return b[i + 1:i + 1 + n].decode(), i + 1 + n
    if t == 0xC0:
        return None, i + 1
    if t in (0xC2, 0xC3):
        return t == 0xC3, i + 1
    if t in (0xC4, 0xC5, 0xC6, 0xD9, 0xDA, 0xDB):
        k = {0xC4: 1, 0xC5: 2, 0xC6: 4, 0xD9: 1, 0xDA: 2, 0xDB: 4}[t]
        n = int.from_bytes(b[i + 1:i + 1 + k], "big")
        s = i + 1 + k
        v = bytes(b[s:s + n])
        return (v if t <= 0xC6 else v.decode()), s + n
    if t in (0xCC, 0xCD, 0xCE, 0xCF):
        k = {0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8}[t]
        return int.from_bytes(b[i + 1:i + 1 + k], "big"), i + 1 + k
    if t in (0xDC, 0xDD, 0xDE, 0xDF):
        k = 2 if t in (0xDC, 0xDE) else 4
        n = int.from_bytes(b[i + 1:i + 1 + k], "big")
        return (_arr if t in (0xDC, 0xDD) else _map)(b, i + 1 + k, n)
    raise ValueError(f"msgpack type 0x{t:02x} not handled")


def _arr(b, i, n):
    out = []
    for _ in range(n):
        v, i = unpack(b, i)
        out.append(v)
    return out, i


def _map(b, i, n):
    out = {}
    for _ in range(n):
        k, i = unpack(b, i)
        out[k], i = unpack(b, i)
    return out, i


def pack(v):
    if isinstance(v, bool):
        return b"\xc3" if v else b"\xc2"
    if isinstance(v, int):
        return b"\xcf" + struct.pack(">Q", v) if v >= 0 else b"\xd3" + struct.pack(">q", v)
    if isinstance(v, str):
        e = v.encode()
        return b"\xdb" + struct.pack(">I", len(e)) + e
    if isinstance(v, (bytes, bytearray)):
        return b"\xc6" + struct.pack(">I", len(v)) + bytes(v)
    if isinstance(v, list):
        return b"\xdd" + struct.pack(">I", len(v)) + b"".join(pack(x) for x in v)
    if isinstance(v, dict):
        return b"\xdf" + struct.pack(">I", len(v)) + b"".join(pack(k) + pack(x) for k, x in v.items())
    raise TypeError(type(v))


# ---- frames ----------------------------------------------------------------------------------
def bslz4_chunk(a):
    """The HDF5 filter's chunk: u64 BE size, u32 BE block size in bytes, then the blocks."""
    import bitshuffle
    body = bitshuffle.compress_lz4(np.ascontiguousarray(a), 0)
    block_elements = 8192 // a.dtype.itemsize  # bitshuffle's default block (0: automatic)
    return struct.pack(">QI", a.nbytes, block_elements * a.dtype.itemsize) + body.tobytes()


def decode_chunk(chunk, shape, dtype=np.uint16):
    import bitshuffle
    block_bytes = struct.unpack(">I", chunk[8:12])[0]
    return bitshuffle.decompress_lz4(np.frombuffer(chunk, np.uint8, offset=12), shape,
                                     np.dtype(dtype), block_bytes // np.dtype(dtype).itemsize)


def fixture_frame():
    parts, _ = unpack(open(IMAGE_DUMP, "rb").read())
    d = json.loads(parts[1])
    fast, slow = d["shape"]
    return parts, parts[2], (slow, fast)


def write_stack(path, chunk, shape, count):
    import h5py
    with h5py.File(path, "w") as f:
        dset = f.create_dataset("/entry/data/data", shape=(count,) + shape, dtype="<u2",
                                chunks=(1,) + shape, compression=32008,
                                compression_opts=(0, 3, 2, 0, 2), allow_unknown_filter=True)
        for k in range(count):
            dset.id.write_direct_chunk((k, 0, 0), chunk)


def write_dumps(folder, header_parts, image_parts, blob, shape, series, count):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "a_header.msgpack"), "wb") as f:
        f.write(pack(header_parts))
    d = {"encoding": "bs16-lz4<", "htype": "dimage_d-1.0", "shape": [shape[1], shape[0]],
         "size": len(blob), "type": "uint16"}
    for k in range(count):
        parts = [{"htype": "dimage-1.0", "series": series, "frame": k, "hash": ""},
                 json.dumps(d).encode(), blob, image_parts[3]]
        with open(os.path.join(folder, f"b_image{k:06d}.msgpack"), "wb") as f:
            f.write(pack(parts))


def make(args):
    import h5py
    image_parts, blob4m, shape4m = fixture_frame()
    header_parts, _ = unpack(open(HEADER_DUMP, "rb").read())
    img4m = decode_chunk(blob4m, shape4m)
    tile = np.tile(img4m, (2, 2))
    with h5py.File(args.therm_cxi, "r") as f:
        therm32 = f["/entry_1/data_1/data"][0]
    therm = np.where(therm32 < 0, 65535, np.minimum(therm32, 65534)).astype("<u2")
    config = json.loads(header_parts[1])
    frames = {"roi4m": (blob4m, shape4m), "tile16m": (bslz4_chunk(tile), tile.shape),
              "therm16m": (bslz4_chunk(therm), therm.shape)}
    for name, (chunk, shape) in frames.items():
        count = args.count if name == "roi4m" else max(1, args.count // 4)
        assert np.array_equal(decode_chunk(chunk, shape),
                              {"roi4m": img4m, "tile16m": tile, "therm16m": therm}[name])
        write_stack(os.path.join(args.work, f"{name}.h5"), chunk, shape, count)
        if name == "roi4m":
            header = header_parts  # the recorded header, as the detector sent it
        else:  # the same detector config at 16M size, no mask blobs
            c = dict(config, x_pixels_in_detector=shape[1], y_pixels_in_detector=shape[0],
                     beam_center_x=shape[1] / 2, beam_center_y=shape[0] / 2)
            header = [dict(header_parts[0], header_detail="basic"), json.dumps(c).encode()]
        write_dumps(os.path.join(args.work, f"{name}_dumps"), header, image_parts, chunk, shape,
                    header_parts[0]["series"], count)
        with open(os.path.join(args.work, f"{name}.chunk"), "wb") as f:
            f.write(chunk)
        with open(os.path.join(args.work, f"{name}.json"), "w") as f:
            json.dump({"shape": list(shape), "count": count, "chunk_bytes": len(chunk)}, f)
        print(f"{name}: {shape[1]} x {shape[0]} uint16, {len(chunk)} bytes per bslz4 chunk, "
              f"{count} frames", file=sys.stderr)


def decode(args):
    out = {}
    for name in SETS:
        meta = json.load(open(os.path.join(args.work, f"{name}.json")))
        chunk = open(os.path.join(args.work, f"{name}.chunk"), "rb").read()
        shape = tuple(meta["shape"])
        decode_chunk(chunk, shape)  # warm up
        best = float("inf")
        for _ in range(args.repeats):
            t = time.perf_counter()
            for _ in range(5):
                decode_chunk(chunk, shape)
            best = min(best, (time.perf_counter() - t) / 5)
        out[name] = best * 1e3
    print(json.dumps(out))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("--work", required=True)
    m.add_argument("--count", type=int, default=400)
    m.add_argument("--therm-cxi", required=True)
    d = sub.add_parser("decode")
    d.add_argument("--work", required=True)
    d.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    make(args) if args.cmd == "make" else decode(args)


if __name__ == "__main__":
    main()
