"""The issue-9 ablation runs its rows and prints a summary and a table per material."""
from __future__ import annotations

import denoiser.reucid
from benchmarks.beyond import (
    BM3D_ROW,
    DEFAULT_ROW,
    NO_PILOT_ROW,
    QUICK_ROWS,
    ROWS,
    main,
    markdown_tables,
    run_ablation,
    summary_table,
)
from benchmarks.methods import MethodContext, select_methods
from benchmarks.reucid_methods import PAPER_GD, PAPER_MP


def test_every_row_is_a_registry_row_and_the_ablation_family_runs_only_when_named():
    methods = select_methods(ROWS)
    assert list(methods) == list(ROWS) and set(QUICK_ROWS) <= set(ROWS)
    ablation = set(select_methods(None, family="ablation"))
    assert ablation and ablation <= set(ROWS)
    assert not ablation & set(select_methods(None))


def test_ablation_on_a_tiny_case_measures_and_tabulates(tiny_case):
    records = run_ablation([tiny_case], [PAPER_MP, DEFAULT_ROW])
    assert [r["row"] for r in records] == [PAPER_MP, DEFAULT_ROW]
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
    rows = select_methods([PAPER_GD, NO_PILOT_ROW, DEFAULT_ROW, "default without GAT"])
    context = MethodContext(noise=tiny_case.noise, clean=tiny_case.clean)
    for current, method in rows.items():
        method.run(tiny_case.noisy, context=context)
    assert calls[PAPER_GD][0]["variant"] == "paper"
    assert calls[NO_PILOT_ROW][0] == {"classifier": None, "seed": 0, "variant": "best",
                                      "pilot": None}
    assert calls[DEFAULT_ROW][0] == {"classifier": None, "seed": 0}
    assert calls["default without GAT"][0] == {"classifier": "noise-edge", "seed": 0,
                                               "variant": "best", "stabilize": False}


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
