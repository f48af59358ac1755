#!/usr/bin/python3
"""An independent DECTRIS stream peer for live_test.cpp, written with Debian's python3-zmq,
python3-cbor2 and bitshuffle (as DECTRIS's own example client reads Stream V2), sharing no code
with difftriage.

  stream_peer.py send ENDPOINT OUTDIR
      binds a PUSH socket like a detector and sends one Stream V2 series (id 17): start, five
      uint16 images (bslz4 and uncompressed, alternating), end. Saves each image message as
      OUTDIR/image_<i>.cbor and its pixels as OUTDIR/image_<i>.u16 (raw little-endian).
  stream_peer.py receive ENDPOINT DIR N
      connects a PULL socket, reads one series (Stream V1 or V2, encodings <, bs16-lz4< /
      raw, bslz4) and checks every frame against DIR/expected_<frame>.u16; prints
      "ok N frames series S" and exits 0, or prints the problem and exits 1.
  stream_peer.py forwarded ENDPOINT DIR
      connects a PULL socket to difftriage stream --forward and reads one series: the header
      first, then image messages that each carry difftriage's result (V1: a difftriage-1.0
      part; V2: user_data) with decision "keep" and the pixels of DIR/expected_<frame>.u16,
      then the end; prints "ok forwarded F1,F2,... series S" (the frames in order).
"""
import os
import struct
import sys

import bitshuffle
import cbor2
import numpy as np
import zmq

TIMEOUT_MS = 60000


def bslz4(arr):
    """Bitshuffle/LZ4 with the HDF5 filter's 12-byte header (u64 BE size, u32 BE block bytes)."""
    block = 4096  # elements: bitshuffle's default for 2-byte elements, stated explicitly
    body = bitshuffle.compress_lz4(arr, block).tobytes()
    return struct.pack(">QI", arr.nbytes, block * arr.itemsize) + body


def unbslz4(data, shape, dtype):
    size, block_bytes = struct.unpack(">QI", bytes(data[:12]))
    dtype = np.dtype(dtype)
    assert size == int(np.prod(shape)) * dtype.itemsize, (size, shape)
    return bitshuffle.decompress_lz4(np.frombuffer(data[12:], np.uint8), shape, dtype,
                                     block_bytes // dtype.itemsize)


def send(endpoint, outdir):
    os.makedirs(outdir, exist_ok=True)
    ctx = zmq.Context()
    sock = ctx.socket(zmq.PUSH)
    sock.setsockopt(zmq.LINGER, TIMEOUT_MS)
    sock.setsockopt(zmq.SNDTIMEO, TIMEOUT_MS)
    sock.bind(endpoint)
    rng = np.random.default_rng(17)
    slow, fast = 40, 56
    tag = cbor2.CBORTag
    start = {"type": "start", "series_id": 17, "series_unique_id": "peer-17",
             "channels": ["threshold_1"], "image_size_x": fast, "image_size_y": slow,
             "number_of_images": 5, "beam_center_x": 28.0, "beam_center_y": 20.0,
             "pixel_size_x": 75e-6, "pixel_size_y": 75e-6, "incident_wavelength": 0.98,
             "saturation_value": 60000, "count_time": 0.01}
    sock.send(cbor2.dumps(tag(55799, start)))  # blocks until the consumer has connected
    for i in range(5):
        pixels = rng.poisson(3.0 + 4 * i, size=(slow, fast)).astype("<u2")
        if i % 2 == 0:
            typed = tag(69, tag(56500, ["bslz4", 2, bslz4(pixels)]))
        else:
            typed = tag(69, pixels.tobytes())
        message = cbor2.dumps(tag(55799, {
            "type": "image", "series_id": 17, "series_unique_id": "peer-17", "image_id": i,
            "real_time": [10000, 1000000], "start_time": [i * 10000, 1000000],
            "stop_time": [(i + 1) * 10000, 1000000],
            "data": {"threshold_1": tag(40, [[slow, fast], typed])}}))
        with open(os.path.join(outdir, "image_%d.cbor" % i), "wb") as f:
            f.write(message)
        with open(os.path.join(outdir, "image_%d.u16" % i), "wb") as f:
            f.write(pixels.tobytes())
        sock.send(message)
    sock.send(cbor2.dumps(tag(55799, {"type": "end", "series_id": 17,
                                      "series_unique_id": "peer-17"})))
    sock.close()
    ctx.term()
    return 0


def receive(endpoint, directory, n_expected, forwarded=False):
    ctx = zmq.Context()
    sock = ctx.socket(zmq.PULL)
    sock.setsockopt(zmq.RCVTIMEO, TIMEOUT_MS)
    sock.connect(endpoint)
    seen, series, started = [], None, False

    def fail(what):
        print("FAIL:", what)
        return 1

    while True:
        try:
            parts = sock.recv_multipart()
        except zmq.Again:
            return fail("no message within %d ms" % TIMEOUT_MS)
        if parts[0][:3] == b"\xd9\xd9\xf7":  # Stream V2
            def hook(decoder, t):
                if t.tag == 56500:
                    algorithm, elem, data = t.value
                    if algorithm != "bslz4":
                        raise ValueError("unexpected compression " + algorithm)
                    return ("bslz4", elem, data)
                return t
            msg = cbor2.loads(parts[0], tag_hook=hook)
            msg = msg.value if isinstance(msg, cbor2.CBORTag) else msg
            kind = msg["type"]
            result = (msg.get("user_data") or {}).get("difftriage")
            if kind == "start":
                started, series = True, msg["series_id"]
                continue
            if kind == "end":
                break
            assert kind == "image", kind
            dims, typed = msg["data"]["threshold_1"].value
            if typed.tag != 69:
                return fail("typed array tag %d, expected 69 (uint16 LE)" % typed.tag)
            payload = typed.value
            if isinstance(payload, tuple):
                pixels = unbslz4(payload[2], tuple(dims), "<u2")
            else:
                pixels = np.frombuffer(payload, "<u2").reshape(dims)
            frame, msg_series = msg["image_id"], msg["series_id"]
        else:  # Stream V1
            import json
            head = json.loads(parts[0])
            htype = head["htype"]
            if htype.startswith("dheader"):
                started, series = True, head["series"]
                continue
            if htype.startswith("dseries_end"):
                break
            if not htype.startswith("dimage-") or len(parts) < 4:
                return fail("unexpected message " + repr(head))
            d = json.loads(parts[1])
            fast, slow = d["shape"]
            if d["type"] != "uint16" or d["size"] != len(parts[2]):
                return fail("dimage_d " + repr(d))
            if d["encoding"] == "<":
                pixels = np.frombuffer(parts[2], "<u2").reshape(slow, fast)
            elif d["encoding"] == "bs16-lz4<":
                pixels = unbslz4(np.frombuffer(parts[2], np.uint8), (slow, fast), "<u2")
            else:
                return fail("encoding " + d["encoding"] + " is not read by this client")
            frame, msg_series = head["frame"], head["series"]
            result = None
            for extra in parts[4:]:
                j = json.loads(extra)
                if isinstance(j, dict) and j.get("htype") == "difftriage-1.0":
                    result = j["result"]
        if not started:
            return fail("image before the series header")
        if forwarded:
            if result is None:
                return fail("forwarded frame %d carries no difftriage result" % frame)
            if result["decision"] != "keep" or result["frame"] != frame:
                return fail("forwarded frame %d with result %r" % (frame, result))
        if msg_series != series:
            return fail("image of series %s in series %s" % (msg_series, series))
        expected = np.fromfile(os.path.join(directory, "expected_%d.u16" % frame), "<u2")
        if expected.size != pixels.size or not np.array_equal(expected, pixels.ravel()):
            return fail("frame %d differs from expected_%d.u16" % (frame, frame))
        seen.append(frame)
    sock.close()
    ctx.term()
    if forwarded:
        print("ok forwarded %s series %s" % (",".join(str(f) for f in seen), series))
        return 0
    if sorted(seen) != list(range(n_expected)):
        return fail("frames %r, expected 0..%d" % (seen, n_expected - 1))
    print("ok %d frames series %s" % (len(seen), series))
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "send":
        sys.exit(send(sys.argv[2], sys.argv[3]))
    if len(sys.argv) == 5 and sys.argv[1] == "receive":
        sys.exit(receive(sys.argv[2], sys.argv[3], int(sys.argv[4])))
    if len(sys.argv) == 4 and sys.argv[1] == "forwarded":
        sys.exit(receive(sys.argv[2], sys.argv[3], 0, forwarded=True))
    print(__doc__)
    sys.exit(2)
