"""The home page describes both methods, each with figures from the benchmark file."""
from __future__ import annotations

import json

import pytest

from denoiser import benchmark_figures

pytestmark = pytest.mark.django_db


def test_both_methods_with_their_measured_figures(client, settings):
    figures = benchmark_figures.figures()
    assert {"best", "paper"} <= set(figures["methods"])
    html = client.get("/").content.decode()
    assert 'data-test="home-method-best"' in html and 'data-test="home-method-paper"' in html
    best, paper = figures["methods"]["best"], figures["methods"]["paper"]
    assert f"{best['psnr_db']['100']} dB" in html and f"{paper['psnr_db']['100']} dB" in html
    assert f"{best['seconds']['1024']} s for 1024" in html
    assert f"{paper['seconds']['256']} s for 256" in html
    assert "Make the noise even" in html and "Patch stacks" in html


def test_the_page_quotes_the_generated_figures_file(client, settings, tmp_path):
    (tmp_path / "docs" / "benchmarks").mkdir(parents=True)
    generated = json.loads(
        (settings.BASE_DIR / "docs" / "benchmarks" / "figures.json").read_text())
    generated["methods"]["best"]["psnr_db"]["100"] = 99.9
    (tmp_path / "docs" / "benchmarks" / "figures.json").write_text(json.dumps(generated))
    settings.BASE_DIR = tmp_path
    assert "99.9 dB" in client.get("/").content.decode()


def test_the_page_stands_without_any_figures(client, settings, tmp_path):
    settings.BASE_DIR = tmp_path
    html = client.get("/").content.decode()
    assert 'data-test="home-method-best"' in html and "Measured:" not in html


def test_every_page_links_a_favicon(client):
    html = client.get("/").content.decode()
    assert 'rel="icon"' in html and "favicon.svg" in html


def test_the_upload_page_quotes_the_same_figures(client):
    figures = benchmark_figures.figures()
    html = client.get("/denoise/").content.decode()
    for method in ("best", "paper"):
        m = figures["methods"][method]
        assert f'data-test="method-figures-{method}"' in html
        assert f"Measured: {m['psnr_db']['100']} dB" in html
        assert f"{m['seconds']['1024']} s for 1024" in html


def test_the_admin_links_the_favicon_too(client):
    html = client.get("/admin/login/").content.decode()
    assert 'rel="icon"' in html and "favicon.svg" in html
    assert "Django administration" in html or "administration" in html.lower()
