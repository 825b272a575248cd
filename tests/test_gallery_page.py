"""The style gallery's page generator (offline/gallery_page.py): escaping, missing metadata, its files.

Pure text, no rendering: the page is parsed back with the standard library's HTML parser, the way a
browser tokenises it, and what each card says is compared with what went in. The page in a real
browser: tests/test_gallery_browser.py.
"""

from html.parser import HTMLParser
from pathlib import Path

import pytest

from livecppn import paths
from livecppn.model.bank import load_bank
from livecppn.model.style import load_style
from livecppn.offline.gallery import _card, bank_ref
from livecppn.offline.gallery_page import Card, GalleryError, page_html, write_page
from livecppn.offline.report import THRESHOLDS, StyleReport

ROOT = Path(__file__).resolve().parent.parent
LIMITS = {t.metric: t.minimum for t in THRESHOLDS}
HOSTILE = 'say "hi" & \'bye\' </textarea></article><script>window.pwned = 1</script><img src=x onerror=alert(1)>'


class Page(HTMLParser):
    """Elements as a browser's tokeniser sees them: the scripts, each card's data-* and its text."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.scripts, self.cards, self.tags, self._card, self._in_script = [], [], [], None, False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if tag == "script":
            self.scripts.append(attrs.get("src"))
            self._in_script = True
        if tag == "article":
            self._card = {"attrs": attrs, "text": ""}
            self.cards.append(self._card)
        if tag == "video" and self._card is not None:
            self._card["clip"] = attrs.get("src")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._card is not None and not self._in_script:
            self._card["text"] += data


def hostile_card() -> Card:
    return Card(name=HOSTILE, clip="clips/01-x.mp4", ref='C:\\styles\\"odd".safetensors', family="flowing",
                description=HOSTILE, prompts=[HOSTILE, "plain"], negatives=['<b>"bold"</b>'], clip_score=0.31234,
                clip_model='ViT-B-32 "x"', metrics={"coherence": 0.95, "reactivity": 0.01, "variation": 0.2,
                                                   "colourfulness": None, "distinctness": 0.3},
                failures=["reactivity 0.010 < 0.06"], architecture="4 × 128, sin <tanh>")


def test_prompts_with_quotes_and_script_stay_text():
    page = Page(page_html([hostile_card()], LIMITS, 4.0, title=HOSTILE, about=HOSTILE))
    assert page.scripts == ["assets/gallery.js"]  # the page's own script, nothing from the style
    assert "img" not in page.tags[page.tags.index("article"):]  # no element made out of a prompt
    (card,) = page.cards
    attrs = card["attrs"]
    assert attrs["data-name"] == HOSTILE  # attribute values round-trip exactly
    assert attrs["data-ref"] == 'C:\\styles\\"odd".safetensors'
    assert attrs["data-verdict"] == "fail" and attrs["data-family"] == "flowing"
    assert attrs["data-bank-family"] == "flowing"
    assert card["text"].count(HOSTILE) == 3  # name, description, first prompt: shown as text
    assert 'not: <b>"bold"</b>' in card["text"] and 'CLIP score 0.3123 (ViT-B-32 "x")' in card["text"]
    assert "✗ fail" in card["text"] and "not judged" in card["text"] and "sin <tanh>" in card["text"]
    assert "Style report: fails reactivity" in card["text"]


def test_missing_metadata_leaves_blanks_not_errors():
    bare = Card(name="bare", clip="clips/01-bare.mp4", ref="/abs/bare.safetensors", reported=False)
    odd = Card(name="odd", clip="clips/02-odd.mp4", ref="styles/odd.safetensors", family="made-up")
    page = Page(page_html([bare, odd], LIMITS, 2.5, title="t", about="a"))
    one, two = page.cards
    assert one["attrs"]["data-family"] == "" and "no family" in one["text"]
    assert one["attrs"]["data-verdict"] == "unknown" and "not measured" in one["text"]
    assert "CLIP score" not in one["text"] and "not:" not in one["text"]
    assert two["attrs"]["data-bank-family"] == ""  # a family the bank loader does not know is not written
    assert two["attrs"]["data-verdict"] == "pass"


def test_a_style_file_without_training_metadata_makes_a_card(tmp_path):
    style = load_style(ROOT / "presets" / "styles" / "neon.safetensors")
    style.meta = {"prompts": "not a list", "clip": {"score": "high"}, "description": 7}
    rep = StyleReport("neon", "x", None, {"coherence": 0.9})
    card = _card(rep, style, "clips/01-neon.mp4", ROOT / "presets" / "styles" / "neon.safetensors")
    assert card.prompts == [] and card.clip_score is None and card.description is None and card.family is None
    assert card.architecture == "4 × 128, sin tanh sin tanh, kaleido ×6, palette of 7"


def test_bank_refs_name_shipped_styles_by_folder_and_others_by_absolute_path(tmp_path):
    assert bank_ref(paths.presets_dir() / "styles" / "neon.safetensors") == "styles/neon.safetensors"
    mine = tmp_path / "mine.safetensors"
    assert bank_ref(mine) == mine.resolve().as_posix()


def test_write_page_writes_the_page_and_its_assets_and_nothing_half_done(tmp_path):
    index = write_page(tmp_path / "g", [hostile_card()], LIMITS, 4.0, "t", "a")
    assert sorted(p.relative_to(tmp_path / "g").as_posix() for p in (tmp_path / "g").rglob("*")) == [
        "assets", "assets/gallery.css", "assets/gallery.js", "index.html"]
    text = index.read_text(encoding="utf-8")
    assert 'href="assets/gallery.css"' in text and "http://" not in text and "https://" not in text  # all local


def test_a_missing_template_names_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("LIVECPPN_WEB", str(tmp_path))
    with pytest.raises(GalleryError, match=rf"{tmp_path}/gallery/index.html: cannot read"):
        write_page(tmp_path / "g", [], LIMITS, 4.0, "t", "a")
    assert not (tmp_path / "g" / "index.html").exists()


@pytest.mark.parametrize("args, message", [
    (["neon", "--seconds", "0"], "--seconds must be positive, got 0.0"),
    (["neon", "--audio", "no-such.wav"], "--audio no-such.wav: no such file"),
    (["no-such-style"], "no-such-style.safetensors: no such file"),
])
def test_bad_input_fails_fast_with_a_clear_message_and_writes_nothing(tmp_path, caplog, args, message):
    from livecppn.cli import main

    out = tmp_path / "g"
    assert main(["styles", "gallery", *args, "--out", str(out)]) == 1
    assert message in caplog.text
    assert not out.exists()


def test_the_shipped_gallery_shows_the_default_bank_within_its_budget():
    """docs/styles/gallery/ (`livecppn styles gallery --out docs/styles/gallery`): one card per style of the
    default bank, in slot order, every clip there, the whole page at most 20 MB."""
    folder = ROOT / "docs" / "styles" / "gallery"
    page = Page((folder / "index.html").read_text(encoding="utf-8"))
    bank = load_bank(paths.presets_dir() / "banks" / "default.toml")
    assert [c["attrs"]["data-name"] for c in page.cards] == [bank.names[k] for k in sorted(bank.slots)]
    assert [c["attrs"]["data-ref"] for c in page.cards] == [f"styles/{bank.slots[k].name}" for k in sorted(bank.slots)]
    assert all((folder / c["clip"]).is_file() for c in page.cards)
    assert sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) <= 20_000_000
