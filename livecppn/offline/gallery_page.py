"""The style gallery's page: index.html from the templates in web/gallery/ (paths.web_dir()), and its assets.

Pure text: no torch, no GL. Each style is a `Card` (what the page says about
it and where its clip is); `page_html` fills web/gallery/index.html and one
web/gallery/card.html per style with `string.Template`. Every value from a
style file (name, prompts, description, family, path) is HTML-escaped here:
a prompt may hold quotes or `<script>`. gallery.js reads the cards' data-*
attributes and never parses markup out of them.
"""

from __future__ import annotations

import html
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

from .. import __version__, paths
from ..model.library import FAMILIES

ASSETS = ("gallery.css", "gallery.js")


class GalleryError(RuntimeError):
    """A gallery that cannot be made; the message names the file or style and the problem."""


@dataclass
class Card:
    """One style on the page. Everything but `name` and `clip` may be missing (an untrained style has no
    prompts; a style outside a bank has no family; a report may be absent)."""

    name: str
    clip: str  # the clip's path relative to index.html
    ref: str  # how a bank names the style file ("styles/neon.safetensors", or an absolute path)
    family: str | None = None
    description: str | None = None
    prompts: list[str] = field(default_factory=list)
    negatives: list[str] = field(default_factory=list)
    clip_score: float | None = None
    clip_model: str | None = None
    metrics: dict[str, float | None] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    architecture: str = ""
    reported: bool = True  # False: no style report for this style (the metrics are left blank)


def esc(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _template(name: str) -> Template:
    path = paths.web_dir() / "gallery" / name
    try:
        return Template(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise GalleryError(f"gallery template {path}: cannot read ({e.strerror or e})") from None


def _fill(template: Template, file: str, **values: str) -> str:
    try:
        return template.substitute(values)
    except (KeyError, ValueError) as e:
        raise GalleryError(f"gallery template {paths.web_dir() / 'gallery' / file}: bad placeholder {e}") from None


def architecture(config) -> str:
    """A style's network in one line: '4 × 128, sin cos gaussian tanh, kaleido ×6, palette of 7'."""
    parts = [f"{config.layers} × {config.width}", " ".join(config.activations)]
    if config.transform != "none":
        parts.append(f"{config.transform} ×{config.symmetry}" if config.symmetry > 1 else config.transform)
    if config.palette:
        parts.append(f"palette of {len(config.palette)}")
    return ", ".join(parts)


def _metric_rows(card: Card, thresholds: dict[str, float]) -> str:
    rows = []
    for metric, minimum in thresholds.items():
        value = card.metrics.get(metric)
        if not card.reported:
            shown, mark, cls = "–", "not measured", ""
        elif value is None:
            shown, mark, cls = "n/a", "not judged", ""
        else:
            ok = value >= minimum
            shown = f"{value:.1f}" if metric == "colourfulness" else f"{value:.3f}"
            mark, cls = ("✓ pass" if ok else "✗ fail"), ("ok" if ok else "no")
        rows.append(f'        <tr><th scope="row">{esc(metric)}</th><td>{esc(shown)}</td><td>{minimum:g}</td>'
                    f'<td class="{cls}">{esc(mark)}</td></tr>')
    return "\n".join(rows)


def _prompts(card: Card) -> str:
    items = [f"<li>{esc(p)}</li>" for p in card.prompts]
    items += [f'<li class="neg">not: {esc(p)}</li>' for p in card.negatives]
    out = f'<ul class="prompts" aria-label="prompts">{"".join(items)}</ul>' if items else ""
    if card.clip_score is not None:
        model = f" ({esc(card.clip_model)})" if card.clip_model else ""
        out += f'<p class="clip">CLIP score <strong>{card.clip_score:.4f}</strong>{model}</p>'
    return out


def card_html(card: Card, index: int, thresholds: dict[str, float], seconds: float) -> str:
    """One card's <article>; every value from the style is escaped."""
    verdict = "pass" if card.reported and not card.failures else ("fail" if card.reported else "unknown")
    verdict_label = {"pass": "passes", "fail": "fails: " + "; ".join(card.failures),
                     "unknown": "not measured"}[verdict]
    search = " ".join([card.name, card.family or "", card.description or "", *card.prompts]).lower()
    values = {
        "anchor": f"style-{index}", "name": esc(card.name), "family": esc(card.family or ""),
        "family_label": esc(card.family or "no family"), "verdict": verdict, "verdict_label": esc(verdict_label),
        "ref": esc(card.ref), "bank_family": esc(card.family if card.family in FAMILIES else ""),
        "search": esc(search), "clip": esc(card.clip), "seconds": f"{seconds:g}",
        "description": f'<p class="desc">{esc(card.description)}</p>' if card.description else "",
        "prompts": _prompts(card), "metrics": _metric_rows(card, thresholds),
        "open": " open" if verdict == "fail" else "",  # a failing style shows why at once
        "report_summary": esc({"pass": f"passes all {len(thresholds)}", "unknown": "not measured"}.get(
            verdict, "fails " + ", ".join(f.split()[0] for f in card.failures))),
        "architecture": esc(card.architecture),
    }
    return _fill(_template("card.html"), "card.html", **values)


def page_html(cards: list[Card], thresholds: dict[str, float], seconds: float, title: str, about: str) -> str:
    """The whole index.html."""
    families = sorted({c.family for c in cards if c.family}, key=lambda f: (f not in FAMILIES, f))
    options = "\n".join(f'      <option value="{esc(f)}">{esc(f)}</option>' for f in families)
    failing = sum(1 for c in cards if c.reported and c.failures)
    footer = (f"Made by <code>livecppn styles gallery</code> (livecppn {esc(__version__)}). Metrics: the style "
              f"report (<code>livecppn styles report</code>); {len(cards) - failing} of {len(cards)} pass its "
              "thresholds. Every clip is rendered offline by <code>livecppn render</code>'s renderer to the "
              "same audio, and they play in step.")
    return _fill(_template("index.html"), "index.html", title=esc(title), about=esc(about),
                 generator=esc(f"livecppn {__version__}"), seconds=f"{seconds:g}", count=str(len(cards)),
                 family_options=options, footer=footer,
                 cards="\n".join(card_html(c, i, thresholds, seconds) for i, c in enumerate(cards, 1)))


def write_page(out: Path, cards: list[Card], thresholds: dict[str, float], seconds: float, title: str,
               about: str) -> Path:
    """index.html and assets/ in `out`. index.html is written last, through a temporary name, so a page
    is never half written."""
    text = page_html(cards, thresholds, seconds, title, about)
    assets = out / "assets"
    assets.mkdir(parents=True, exist_ok=True)
    for name in ASSETS:
        source = paths.web_dir() / "gallery" / "assets" / name
        try:
            shutil.copyfile(source, assets / name)
        except OSError as e:
            raise GalleryError(f"gallery asset {source}: cannot copy ({e.strerror or e})") from None
    index = out / "index.html"
    partial = out / ".index.html.partial"
    partial.write_text(text, encoding="utf-8")
    partial.replace(index)
    return index
