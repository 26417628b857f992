"""``python -m benchmarks`` runs the registered commands in order and survives a failing one."""
from __future__ import annotations

import pytest

from benchmarks import __main__ as run_all
from benchmarks import beyond, fidelity, quality, real, speed


@pytest.fixture
def calls(monkeypatch):
    seen = []
    for name, module in (("quality", quality), ("speed", speed), ("real", real),
                         ("fidelity", fidelity), ("beyond", beyond)):
        monkeypatch.setattr(module, "main", lambda argv, name=name: seen.append((name, argv)))
    return seen


def test_runs_every_benchmark_with_the_shared_options(calls, tmp_path):
    report = tmp_path / "b.md"
    assert run_all.main(["--quick", "--report", str(report)]) == 0
    assert [name for name, _ in calls] == ["quality", "speed", "real", "fidelity"]
    assert all("--quick" in argv and str(report) in argv for _, argv in calls)
    assert "<!-- BEGIN about -->" in report.read_text()


def test_only_restricts_and_a_failure_is_reported(calls, monkeypatch, tmp_path):
    def broken(argv):
        raise RuntimeError("boom")

    monkeypatch.setattr(speed, "main", broken)
    status = run_all.main(["--only", "speed", "--only", "real",
                           "--report", str(tmp_path / "b.md")])
    assert status == 1
    assert [name for name, _ in calls] == ["real"]


def test_a_benchmark_named_on_the_command_line_runs_alone(calls, tmp_path):
    assert run_all.main(["fidelity", "--report", str(tmp_path / "b.md")]) == 0
    assert [name for name, _ in calls] == ["fidelity"]
    with pytest.raises(SystemExit):
        run_all.main(["nonsense"])


def test_the_ablation_runs_only_when_named(calls, tmp_path):
    assert run_all.main(["--report", str(tmp_path / "b.md")]) == 0
    assert "beyond" not in [name for name, _ in calls]
    calls.clear()
    assert run_all.main(["beyond", "--quick", "--report", str(tmp_path / "b.md")]) == 0
    assert [name for name, _ in calls] == ["beyond"]
