"""`livecppn styles gallery` in a real browser: Debian's headless Chromium driven by Selenium, opened from file://.

A small gallery (three styles, 2 s clips at 160x90) is made once by the real command's code (the style
report, the offline renderer, H.264); the page must show one card per style, play every clip (readyState ≥ 2,
currentTime advancing), pause/scrub them all, filter them, compare, and make a bank TOML that livecppn's bank
loader accepts, with nothing in the browser's console. A screenshot is kept: in $LIVECPPN_TEST_ARTIFACTS when
set, else in the test's tmp folder (its path is printed).

Chromium and chromedriver come from apt (`tools/setup.sh --test`); nothing is downloaded at run time, and the
browser is kept off the network (background networking off, a dead local proxy for anything else).
"""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image
from realparts import require

from livecppn.model.bank import load_bank
from livecppn.model.style import load_style, save_style

ROOT = Path(__file__).resolve().parent.parent
PRESETS = ROOT / "presets" / "styles"
PROMPT = 'a "neon" <script>window.pwned = 1</script> & \'bye\''
CHROME_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--mute-audio",
                "--autoplay-policy=no-user-gesture-required", "--window-size=1280,900", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-default-apps", "--disable-domain-reliability", "--no-pings",
                "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>")


def chromium_paths():
    return shutil.which("chromium"), shutil.which("chromedriver")


@pytest.fixture(scope="module")
def gallery(tmp_path_factory):
    """(index.html, {card name: style file}) for neon, mono and a 'trained' copy of pastel whose prompt is hostile."""
    tmp = tmp_path_factory.mktemp("gallery")
    trained = load_style(PRESETS / "pastel.safetensors")
    trained.name = "wash"
    trained.meta.update(prompts=[PROMPT, "soft pastel"], negative_prompts=["text"],
                        clip={"model": "ViT-B-32", "score": 0.2871})
    wash = save_style(trained, tmp / "mine" / "wash.safetensors")
    files = {"neon": PRESETS / "neon.safetensors", "mono": PRESETS / "mono.safetensors", "wash": wash}
    # The command, in a process of its own (as `train --batch` runs it): its offline GL context must not
    # become the current one in this process, where the session's window context serves later tests.
    out = tmp / "page"
    made = subprocess.run([sys.executable, "-m", "livecppn", "styles", "gallery", *map(str, files.values()),
                           "--out", str(out), "--seconds", "2", "--size", "160x90", "--fps", "24"],
                          capture_output=True, text=True, timeout=600)
    assert made.returncode == 0, made.stderr[-3000:]
    assert len(list((out / "clips").glob("*.mp4"))) == 3
    return out / "index.html", files


@pytest.fixture(scope="module")
def browser():
    chromium, driver_path = chromium_paths()
    require(chromium is not None and driver_path is not None,
            "chromium and chromium-driver are not installed (tools/setup.sh --test installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    yield driver
    driver.quit()


@pytest.fixture
def page(browser, gallery):
    index, files = gallery
    browser.get(index.as_uri())
    yield browser, files
    problems = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    assert not problems, problems  # no console errors (nor warnings) while the test drove the page


def js(driver, script, *args):
    return driver.execute_script(script, *args)


def videos(driver, where="#cards video"):
    """[(readyState, currentTime, paused)] for each matching video."""
    return js(driver, "return Array.from(document.querySelectorAll(arguments[0]))"
                      ".map(v => [v.readyState, v.currentTime, v.paused])", where)


def wait(predicate, timeout=20.0, what="the page"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def click(driver, selector, by="css selector"):
    """A real click on the element, first scrolled to the middle of the window (clear of the sticky header)."""
    element = driver.find_element(by, selector)
    js(driver, "arguments[0].scrollIntoView({block: 'center'})", element)
    element.click()
    return element


def visible_names(driver):
    return js(driver, "return Array.from(document.querySelectorAll('.card')).filter(c => !c.hidden)"
                      ".map(c => c.dataset.name)")


def test_one_card_per_style_and_every_clip_plays(page, tmp_path):
    driver, files = page
    assert visible_names(driver) == ["neon", "mono", "wash"]
    wait(lambda: all(rs >= 2 for rs, _, _ in videos(driver)), what="every clip to have data (readyState >= 2)")
    before = [t for _, t, _ in videos(driver)]
    time.sleep(0.8)
    after = videos(driver)
    assert all(not paused for _, _, paused in after)
    assert all(t != t0 for (_, t, _), t0 in zip(after, before)), (before, after)
    spread = max(t for _, t, _ in after) - min(t for _, t, _ in after)
    assert spread < 0.3 or spread > 1.7, after  # in step on one clock (or straddling the loop point)
    assert js(driver, "return window.pwned") is None  # the prompt stayed text
    card = driver.find_element("css selector", '.card[data-name="wash"]').text
    assert PROMPT in card and "CLIP score 0.2871" in card and "organic" in card

    artifacts = Path(os.environ.get("LIVECPPN_TEST_ARTIFACTS") or tmp_path)
    artifacts.mkdir(parents=True, exist_ok=True)
    shot = artifacts / "gallery.png"
    driver.save_screenshot(str(shot))
    print(f"screenshot: {shot}")
    image = Image.open(shot).convert("RGB")
    rect = driver.find_element("css selector", ".card video").rect
    clip = image.crop((int(rect["x"]) + 2, int(rect["y"]) + 2, int(rect["x"] + rect["width"]) - 2,
                       int(rect["y"] + rect["height"]) - 2))
    assert len(clip.getcolors(maxcolors=1 << 20)) > 50  # the video's picture, not a black box


def test_pause_all_and_scrub_all(page):
    driver, _ = page
    wait(lambda: all(rs >= 2 for rs, _, _ in videos(driver)), what="clips ready")
    click(driver, "play", "id")
    wait(lambda: all(paused for _, _, paused in videos(driver)), what="every clip paused")
    held = [t for _, t, _ in videos(driver)]
    time.sleep(0.6)
    assert [t for _, t, _ in videos(driver)] == held
    js(driver, "const s = document.getElementById('scrub'); s.value = '1.25'; "
               "s.dispatchEvent(new Event('input')); s.dispatchEvent(new Event('change'));")
    wait(lambda: all(abs(t - 1.25) < 0.05 for _, t, _ in videos(driver)), what="every clip at 1.25 s")
    click(driver, "play", "id")
    wait(lambda: all(not paused for _, _, paused in videos(driver)), what="every clip playing again")
    time.sleep(0.5)
    assert all(abs(t - 1.25) > 0.1 for _, t, _ in videos(driver))


def test_family_filter_and_search(page):
    from selenium.webdriver.support.ui import Select

    driver, _ = page
    Select(driver.find_element("id", "family")).select_by_value("fractal")
    assert visible_names(driver) == ["mono"]
    assert driver.find_element("id", "count").text == "1 of 3 styles"
    wait(lambda: [paused for _, _, paused in videos(driver)] == [True, False, True], what="hidden clips paused")
    Select(driver.find_element("id", "family")).select_by_value("")
    driver.find_element("id", "search").send_keys("neon")  # matches neon's name and wash's prompt
    assert visible_names(driver) == ["neon", "wash"]


def test_compare_shows_the_chosen_styles_large(page):
    driver, _ = page
    assert not driver.find_element("id", "compare-open").is_enabled()
    for name in ("neon", "wash"):
        click(driver, f'.card[data-name="{name}"] .pick-compare')
    click(driver, "compare-open", "id")
    assert driver.find_element("id", "compare").is_displayed()
    wait(lambda: [(rs >= 2, paused) for rs, _, paused in videos(driver, "#compare-grid video")]
         == [(True, False), (True, False)], what="both compared clips playing")
    assert all(paused for _, _, paused in videos(driver))  # the grid rests meanwhile
    width = js(driver, "return document.querySelector('#compare-grid video').getBoundingClientRect().width")
    assert width > 500
    driver.find_element("id", "compare-close").send_keys("\ue00c")  # Escape
    assert not driver.find_element("id", "compare").is_displayed()


def test_the_bank_tray_makes_a_bank_livecppn_loads(page, tmp_path):
    driver, files = page
    for name in ("mono", "wash", "neon"):
        click(driver, f'.card[data-name="{name}"] .pick-bank')
    click(driver, '.card[data-name="neon"] .pick-bank')  # out again
    name = driver.find_element("id", "bank-name")
    name.clear()
    name.send_keys('my "set"')
    assert driver.find_element("css selector", '.card[data-name="wash"] .pick-bank').text == "In bank: slot 2"
    text = driver.find_element("id", "bank-toml").get_attribute("value")
    click(driver, "bank-copy", "id")
    wait(lambda: driver.find_element("id", "bank-status").text, what="the copy's status")
    file = tmp_path / "banks" / "mine.toml"
    file.parent.mkdir()
    file.write_text(text)
    bank = load_bank(file)
    assert not bank.problems, (text, bank.problems)
    assert bank.name == 'my "set"'
    assert {k: p.resolve() for k, p in bank.slots.items()} == {1: files["mono"].resolve(), 2: files["wash"].resolve()}
    assert bank.families == {1: "fractal", 2: "organic"}


def test_keyboard_space_pauses_and_keys_pick(page):
    from selenium.webdriver.common.action_chains import ActionChains

    driver, _ = page
    wait(lambda: all(rs >= 2 for rs, _, _ in videos(driver)), what="clips ready")
    first = driver.find_element("css selector", ".card")
    js(driver, "arguments[0].focus()", first)
    ActionChains(driver).send_keys(" ").perform()
    wait(lambda: all(paused for _, _, paused in videos(driver)), what="Space to pause every clip")
    ActionChains(driver).send_keys("\ue014").perform()  # ArrowRight: the next card
    assert js(driver, "return document.activeElement.dataset.name") == "mono"
    ActionChains(driver).send_keys("b").perform()
    assert "1 = { style = \"styles/mono.safetensors\", family = \"fractal\" }" in \
        driver.find_element("id", "bank-toml").get_attribute("value")
