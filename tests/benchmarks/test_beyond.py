"""The issue-9 ablation runs its rows and prints a summary and a table per material."""
from __future__ import annotations

import denoiser.reucid
from benchmarks.beyond import (
    BM3D_ROW,
    DEFAULT_ROW,
    NO_PILOT_ROW,
    QUICK_ROWS,
    ROWS,
    ablation_rows,
    main,
    markdown_tables,
    run_ablation,
    summary_table,
)


def test_every_listed_row_has_an_estimator():
    assert set(ROWS) == set(ablation_rows())
    assert set(QUICK_ROWS) <= set(ROWS)


def test_ablation_on_a_tiny_case_measures_and_tabulates(tiny_case):
    records = run_ablation([tiny_case], ["paper, MP", DEFAULT_ROW])
    assert [r["row"] for r in records] == ["paper, MP", DEFAULT_ROW]
    assert all(r["cpu_s"] >= 0 and -1 <= r["r"] <= 1 for r in records)
    table = markdown_tables(records)
    assert table.startswith(f"#### {tiny_case.name}") and f"| {DEFAULT_ROW} |" in table


def test_rows_name_their_variant(tiny_case, monkeypatch):
    calls = {}
    real = denoiser.reucid.denoise

    def recording(image, classifier=None, **options):
        calls.setdefault(current, []).append({"classifier": classifier, **options})
        return real(image, classifier, **options)

    monkeypatch.setattr(denoiser.reucid, "denoise", recording)
    rows = ablation_rows()
    for current in ("paper, GD", NO_PILOT_ROW, DEFAULT_ROW):
        rows[current](tiny_case.noisy, tiny_case)
    assert calls["paper, GD"][0]["variant"] == "paper"
    assert calls[NO_PILOT_ROW][0] == {"classifier": "noise-edge", "variant": "best",
                                      "pilot": None}
    assert calls[DEFAULT_ROW][0] == {"classifier": None}


def test_summary_marks_where_the_default_is_level_or_ahead():
    records = [{"material": "X", "dose": d, "row": row, "psnr": p, "ssim": 0.9, "r": 0.0,
                "cpu_s": 1.0}
               for d, row, p in ((100, DEFAULT_ROW, 29.0), (100, BM3D_ROW, 30.0),
                                 (500, DEFAULT_ROW, 31.0), (500, BM3D_ROW, 30.0))]
    lines = summary_table(records).splitlines()
    assert "| X | 100 | 29.00 | 30.00 | -1.00 |" in lines[2]
    assert "| X | 500 | **31.00** | 30.00 | +1.00 |" in lines[3]


def test_without_shared_data_it_says_so(monkeypatch, capsys):
    monkeypatch.setattr("benchmarks.beyond.shared_simulated_cases", lambda **_: [])
    assert main(["--quick"]) == 0
    assert "nothing to do" in capsys.readouterr().err
