"""Speed and quality figures shown to users come from the one generated figures file.

``docs/benchmarks/figures.json`` is written by the benchmark runs
(``benchmarks.report.write_figures``). No template, static file, help text, message or
README line may type in a speed or PSNR figure of its own: each one found must be a
value of that file (as the site rounds it).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from denoiser import benchmark_figures, methods

ROOT = Path(__file__).resolve().parents[2]
FIGURES = ROOT / "docs" / "benchmarks" / "figures.json"
#: Where users read figures: pages, scripts, the Django apps' code (help texts, messages),
#: the site settings and the README. The numerical core and the benchmarks are not.
USER_FACING = ("templates", "static", "training/templates", "survey/templates",
               "denoiser/*.py", "denoiser/templatetags/*.py", "survey/*.py",
               "survey/services/*.py", "training/*.py", "reucid_site/*.py", "README.md")
#: A speed or quality figure: "35× faster", "1.5 s per 256", "17 s per megapixel",
#: "22.2 dB", "0.03 s per 256 x 256 image".
FIGURE = re.compile(
    r"(?P<number>\d+(?:\.\d+)?)\s*(?:"
    r"×\s*(?:faster|slower)"
    r"|s(?:econds)?\s+(?:of\s+CPU\s+)?(?:per|for)\s+(?:\d|a\s|megapixel)"
    r"|dB\b)")


def _files():
    for pattern in USER_FACING:
        path = ROOT / pattern
        if path.is_file():
            yield path
        elif path.is_dir():
            yield from (p for p in path.rglob("*") if p.suffix in {".html", ".js", ".css",
                                                                    ".txt", ".md", ".py"})
        else:
            yield from ROOT.glob(pattern)


def _measured_values() -> set[str]:
    values: set[str] = set()

    def walk(node):
        if isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
        elif isinstance(node, (int, float)) and not isinstance(node, bool):
            values.update({f"{node:g}", benchmark_figures.rounded(node)})

    walk(json.loads(FIGURES.read_text(encoding="utf-8")))
    return values


def test_the_figures_file_is_the_generated_one_and_holds_both_methods():
    data = json.loads(FIGURES.read_text(encoding="utf-8"))
    assert "write_figures" in data["about"]
    assert {"best", "paper", "bm3d"} <= set(data["methods"])
    assert not (ROOT / "docs" / "benchmarks" / "headline.json").exists()


def test_no_user_facing_text_types_in_a_figure_of_its_own():
    measured = _measured_values()
    typed_in = []
    for path in _files():
        text = path.read_text(encoding="utf-8", errors="replace")
        for match in FIGURE.finditer(text):
            if match.group("number") not in measured:
                line = text.count("\n", 0, match.start()) + 1
                typed_in.append(f"{path.relative_to(ROOT)}:{line}: {match.group(0)!r}")
    assert not typed_in, "figures typed in instead of read from figures.json:\n" + "\n".join(
        typed_in)


def test_the_pattern_catches_what_it_is_meant_to():
    for text in ("about 35× faster", "~1.5 s of CPU per 256x256", "17 s per megapixel",
                 "22.2 dB against 11.3 dB", "0.03 s per 256 x 256 image"):
        assert FIGURE.search(text), text


@pytest.mark.django_db
def test_sentences_quote_the_figures_file(settings, tmp_path):
    data = json.loads(FIGURES.read_text(encoding="utf-8"))
    data["methods"]["best"]["seconds"] = {"256": 2.0, "1024": 20.0}
    data["methods"]["paper"]["seconds"] = {"256": 0.1, "1024": 0.5}
    data["methods"]["best"]["peak_memory_mb_1024"] = 500
    (tmp_path / "docs" / "benchmarks").mkdir(parents=True)
    (tmp_path / "docs" / "benchmarks" / "figures.json").write_text(json.dumps(data))
    settings.BASE_DIR = tmp_path
    assert "about 20× faster than best" in methods.METHOD_TRADE_OFFS["paper"]
    with pytest.raises(ValueError, match=r"about 480 MB of memory and 19 s per megapixel"):
        methods.check_image_size("best", (5000, 5000))
    settings.BASE_DIR = tmp_path / "elsewhere"  # no figures: no numbers, still a sentence
    assert "much faster than best" in methods.METHOD_TRADE_OFFS["paper"]
    with pytest.raises(ValueError) as refused:
        methods.check_image_size("best", (5000, 5000))
    assert "per megapixel" not in str(refused.value)
