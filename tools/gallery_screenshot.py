"""A screenshot of a style gallery page in headless Chromium, for the README (docs/styles/gallery.png).

Opens INDEX.html from disk in Debian's Chromium (through Selenium and chromedriver, kept off the network),
waits until every clip plays, and saves a 256-colour PNG (small enough to commit). Usage:
  python tools/gallery_screenshot.py docs/styles/gallery/index.html docs/styles/gallery.png [--size 1280x860]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--mute-audio",
         "--autoplay-policy=no-user-gesture-required", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-pings", "--proxy-server=http://127.0.0.1:9",
         "--hide-scrollbars")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("index", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--size", default="1280x860", help="window size, WxH")
    ap.add_argument("--wait", type=float, default=20.0, help="seconds to wait for the clips at most")
    args = ap.parse_args()
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver_path):
        print("needs chromium and chromedriver (apt-get install chromium chromium-driver)", file=sys.stderr)
        return 1
    from PIL import Image
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (*FLAGS, f"--window-size={args.size.replace('x', ',')}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        driver.get(args.index.resolve().as_uri())
        end = time.monotonic() + args.wait
        while time.monotonic() < end and not driver.execute_script(
                "return Array.from(document.querySelectorAll('#cards video')).every(v => v.readyState >= 2)"):
            time.sleep(0.2)
        time.sleep(1.0)  # a moment into the loop, not its first frame
        driver.save_screenshot(str(args.out))
    finally:
        driver.quit()
    Image.open(args.out).convert("RGB").quantize(colors=256, method=2, dither=0).save(args.out, optimize=True)
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} kB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
