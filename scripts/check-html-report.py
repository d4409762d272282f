#!/usr/bin/env python3
"""Opens the shadow-compare HTML report in headless Chromium, takes a screenshot and checks that
the plots are drawn: the latency CDF lines of both sides (baseline blue, candidate orange), the
bars of the paired score differences (red for worse, lavender for unchanged) and the cost
histograms. The report is made here first (sim vs sim-degraded on the QA golden set, a failing
candidate, so every plot has data) unless --html names one.

Exits non-zero when Chromium is missing, the page does not render, or a plot's colour is absent.
The PNG is decoded with zlib alone (no Pillow), so the check needs nothing beyond the standard
library and Chromium (Debian's `chromium`, installed by scripts/install-deps.sh)."""
import argparse
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib


def decode_png(path):
    """(width, height, rows of (r, g, b) tuples) for an 8-bit RGB or RGBA, non-interlaced PNG."""
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path}: not a PNG")
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, color, _, _, interlace = header
    if depth != 8 or color not in (2, 6) or interlace:
        raise ValueError(f"{path}: unsupported PNG (depth {depth}, colour type {color}, interlace {interlace})")
    bpp = 3 if color == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev, i = [], bytearray(stride), 0
    for _ in range(height):
        ftype, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if ftype == 1:
                line[x] = (line[x] + a) & 255
            elif ftype == 2:
                line[x] = (line[x] + b) & 255
            elif ftype == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, rows, bpp


def count_colours(rows, bpp, targets, tolerance=3):
    counts = {name: 0 for name in targets}
    wanted = {name: tuple(int(hexv[k:k + 2], 16) for k in (1, 3, 5)) for name, hexv in targets.items()}
    white = 0
    for row in rows:
        for x in range(0, len(row), bpp):
            r, g, b = row[x], row[x + 1], row[x + 2]
            if r > 245 and g > 245 and b > 245:
                white += 1
                continue
            for name, (tr, tg, tb) in wanted.items():
                if abs(r - tr) <= tolerance and abs(g - tg) <= tolerance and abs(b - tb) <= tolerance:
                    counts[name] += 1
    return counts, white


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=".build/debug/evalengine")
    ap.add_argument("--html", help="an existing report (default: make one against the simulators)")
    ap.add_argument("--out", default="out/shadow-report.png")
    args = ap.parse_args()

    chromium = next((c for c in ("chromium", "chromium-browser", "google-chrome") if shutil.which(c)), None)
    if chromium is None:
        sys.exit("check-html-report: no Chromium found (Debian: apt-get install chromium; scripts/install-deps.sh does it)")
    work = tempfile.mkdtemp(prefix="evalengine-html-")
    html = args.html
    if html is None:
        html = os.path.join(work, "shadow.html")
        cmd = [args.bin, "shadow-compare", "--cases", "golden-sets/qa/cases.jsonl", "--baseline-prompt", "golden-sets/qa/prompt.yaml",
               "--baseline", "sim", "--candidate", "sim-degraded", "--html", html, "--quiet", "--cache-path", os.path.join(work, "c.sqlite")]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 1 or not os.path.exists(html):
            sys.exit(f"check-html-report: making the report failed (exit {r.returncode}, expected 1 = fail):\n{r.stdout}\n{r.stderr}")
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    shot = os.path.abspath(args.out)
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--force-device-scale-factor=1",
           "--window-size=1280,1700", f"--screenshot={shot}", "file://" + os.path.abspath(html)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if not os.path.exists(shot):
        sys.exit(f"check-html-report: Chromium wrote no screenshot (exit {r.returncode}):\n{r.stderr[-2000:]}")
    width, height, rows, bpp = decode_png(shot)
    # The verdict badge shares the "worse" red: only the page below the header (y >= 200) counts.
    targets = {"baseline line": "#1f77b4", "candidate line": "#ff7f0e", "worse bars": "#d62728", "same bars": "#9e9ac8"}
    counts, white = count_colours(rows[200:], bpp, targets)
    total = width * (height - 200)
    minimum = {"baseline line": 300, "candidate line": 300, "worse bars": 1000, "same bars": 1000}
    print(f"screenshot {shot}: {width}x{height}, {white / total:.0%} white")
    ok = white < total * 0.98
    for name in ("baseline line", "candidate line", "worse bars", "same bars"):
        good = counts[name] >= minimum[name]
        ok &= good
        print(f"  {name:15s} {targets[name]}: {counts[name]:6d} pixels (need >= {minimum[name]}) {'ok' if good else 'MISSING'}")
    if not ok:
        sys.exit("check-html-report: the screenshot does not show the plots")
    print("check-html-report: the report renders in headless Chromium with its plots")


if __name__ == "__main__":
    main()
