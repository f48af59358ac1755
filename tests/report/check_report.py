#!/usr/bin/python3
"""Checks a difftriage report.html the way a reader's browser needs it to be.

usage: check_report.py REPORT.html [SUMMARY.json] [--max-bytes N]

- it parses as HTML (html.parser, stdlib) with every non-void element closed in order;
- it is self-contained: no src/href to http(s) or to another file, no <link>, no external script;
- with SUMMARY.json: each element data-count="KEY" holds summary[KEY] exactly (integers as
  written, hit_rate to 6 significant digits), and every counter of summary.json is shown;
- every <img src="data:image/png;base64,..."> decodes (Pillow, Debian python3-pil) to an image
  of at least 16x16 pixels;
- the file is at most --max-bytes (default 5 MB).
Prints what it checked; exit 1 with the first problem.
"""
import base64
import html.parser
import io
import json
import sys

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr", "circle", "line", "rect", "polyline", "path"}
COUNTERS = ["n_frames", "n_kept", "n_veto", "n_uncertain", "n_unreadable", "n_untriaged",
            "hit_rate"]


class Checker(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.counts, self.images, self.errors = [], {}, [], []
        self.count_key, self.count_text = None, ""

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("src", "href"):
            v = a.get(key)
            if v and not v.startswith("data:") and not v.startswith("#") and not v.startswith("/"):
                self.errors.append(f"<{tag} {key}={v[:60]}> points outside the page")
        if tag == "link":
            self.errors.append("<link> element: the page must be self-contained")
        if tag == "img" and a.get("src", "").startswith("data:image/png;base64,"):
            self.images.append(a["src"][len("data:image/png;base64,"):])
        if "data-count" in a:
            self.count_key, self.count_text = a["data-count"], ""
        if tag not in VOID:
            self.stack.append((tag, self.count_key if "data-count" in a else None))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID and self.stack and self.stack[-1][0] == tag:
            self.stack.pop()

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1][0] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1][0] if self.stack else 'nothing'}"
                               f" (line {self.getpos()[0]})")
            return
        _, key = self.stack.pop()
        if key is not None:
            self.counts[key] = self.count_text.strip()
            self.count_key = None

    def handle_data(self, data):
        if self.count_key is not None:
            self.count_text += data


def main(argv):
    args = [a for a in argv[1:]]
    max_bytes = 5 * 1024 * 1024
    if "--max-bytes" in args:
        i = args.index("--max-bytes")
        max_bytes = int(args[i + 1])
        del args[i:i + 2]
    text = open(args[0], encoding="utf-8").read()
    size = len(text.encode("utf-8"))
    if size > max_bytes:
        return f"{args[0]}: {size} bytes > {max_bytes}"
    p = Checker()
    p.feed(text)
    p.close()
    if p.errors:
        return f"{args[0]}: {p.errors[0]}"
    if p.stack:
        return f"{args[0]}: unclosed <{p.stack[-1][0]}>"
    if len(args) > 1:
        summary = json.load(open(args[1]))
        for key in COUNTERS:
            if key not in p.counts:
                return f"{args[0]}: no data-count=\"{key}\""
            want = summary[key]
            want_text = f"{want:.6g}" if key == "hit_rate" else str(want)
            if p.counts[key] != want_text:
                return f"{args[0]}: {key} shows {p.counts[key]!r}, summary.json has {want_text!r}"
    try:
        from PIL import Image
    except ImportError:
        return "Pillow (python3-pil) is needed to decode the report's images"
    for k, b64 in enumerate(p.images):
        img = Image.open(io.BytesIO(base64.b64decode(b64, validate=True)))
        img.load()
        if img.width < 16 or img.height < 16:
            return f"{args[0]}: image {k} is {img.width}x{img.height}"
    print(f"ok: {size} bytes, {len(p.images)} image(s) decoded, counts {p.counts}")
    return 0


if __name__ == "__main__":
    r = main(sys.argv)
    if r:
        print(r, file=sys.stderr)
        sys.exit(1)
