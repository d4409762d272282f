#!/usr/bin/env python3
"""Capacity check (release build recommended): runs `evalengine capacity` with profiles/ramp.yaml
against the simulated endpoint `sim-capacity` (4 concurrent requests x 20 ms = 200 requests/s),
checks that the knee is within 10% of 200, renders the SVG in headless Chromium and checks that
the screenshot shows the percentile curves. Timing-based, so a script, not a unit test."""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
check = __import__("check-html-report")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=".build/release/evalengine")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="evalengine-capacity-")
    r = subprocess.run([args.bin, "capacity", "--profile", "profiles/ramp.yaml", "--target", "sim-capacity",
                        "--report", f"{work}/capacity.json", "--svg", f"{work}/capacity.svg"], capture_output=True, text=True)
    print(r.stdout)
    result = json.load(open(f"{work}/capacity.json"))
    knee = result["knee_rate"]
    ok = knee is not None and abs(knee - 200) <= 20
    print(f"knee {knee} requests/s, configured capacity 200 requests/s: {'within' if ok else 'NOT within'} 10%")
    chromium = next((c for c in ("chromium", "chromium-browser", "google-chrome") if shutil.which(c)), None)
    if chromium is None:
        sys.exit("check-capacity: no Chromium to render the SVG")
    shot = os.path.abspath("out/capacity.png")
    os.makedirs("out", exist_ok=True)
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=740,440",
                    f"--screenshot={shot}", f"file://{work}/capacity.svg"], capture_output=True, timeout=120)
    width, height, rows, bpp = check.decode_png(shot)
    counts, _ = check.count_colours(rows, bpp, {"p50": "#2ca02c", "p90": "#1f77b4", "p99": "#d62728"})
    print(f"screenshot {shot}: {width}x{height}, curve pixels {counts}")
    if not ok or min(counts.values()) < 150:
        sys.exit("check-capacity: failed")
    print("check-capacity: ok")


if __name__ == "__main__":
    main()
