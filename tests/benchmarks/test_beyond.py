"""The issue-9 ablation runs its rows and prints a table per material."""
from __future__ import annotations

from benchmarks.beyond import ROWS, ablation_rows, main, markdown_tables, run_ablation


def test_every_listed_row_has_an_estimator():
    assert set(ROWS) == set(ablation_rows())


def test_ablation_on_a_tiny_case_measures_and_tabulates(tiny_case):
    records = run_ablation([tiny_case], ["paper, MP", "BEST (noise-edge)"])
    assert [r["row"] for r in records] == ["paper, MP", "BEST (noise-edge)"]
    assert all(r["cpu_s"] >= 0 and -1 <= r["r"] <= 1 for r in records)
    table = markdown_tables(records)
    assert table.startswith(f"#### {tiny_case.name}") and "| BEST (noise-edge) |" in table


def test_without_shared_data_it_says_so(monkeypatch, capsys):
    monkeypatch.setattr("benchmarks.beyond.shared_simulated_cases", lambda **_: [])
    assert main(["--quick"]) == 0
    assert "nothing to do" in capsys.readouterr().err
