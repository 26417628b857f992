"""The training page in Chromium: the model list refreshes by itself when a run succeeds,
and shows each measure under one name with one sign (as the admin does)."""
from __future__ import annotations

import pytest

from training.models import ClassifierModel, TrainingRun

pytestmark = pytest.mark.django_db(transaction=True)


def test_model_list_refreshes_live_when_a_run_succeeds(page, screenshot, log_in, staff_user):
    run = TrainingRun.objects.create(status=TrainingRun.Status.RUNNING, n_epochs=4, epoch=1,
                                     stage="training", history=[])
    log_in(page, "curator", "curator-pass-123")
    page.goto("/training/")
    assert page.get_attribute("#models-table", "data-count") == "0"
    screenshot(page, "1-running")

    # The run finishes elsewhere (the worker): a model is registered, the run succeeds.
    model = ClassifierModel.objects.create(
        name="retrained in the background", file="training/classifiers/x.pt", sha256="1" * 64,
        metrics={"headline": {"accuracy": 0.9, "balanced_accuracy": 0.85,
                              "psnr_gap_to_oracle_db": 0.2, "psnr_gain_over_mp_db": 0.4}})
    TrainingRun.objects.filter(pk=run.pk).update(
        status=TrainingRun.Status.SUCCEEDED, epoch=4, result=model)

    # No reload: the page's polling sees the run succeed and fetches the model table.
    page.wait_for_selector(f"#models-table tr[data-model-id='{model.pk}']", timeout=15_000)
    assert page.get_attribute("#models-table", "data-count") == "1"
    row = page.locator(f"#models-table tr[data-model-id='{model.pk}']")
    assert row.locator("td[data-measure=psnr_gap_to_oracle_db]").inner_text() == "−0.20"
    assert row.locator("td[data-measure=psnr_gain_over_mp_db]").inner_text() == "+0.40"
    assert "succeeded" in page.inner_text(f"tr[data-run-id='{run.pk}']").lower()
    screenshot(page, "2-refreshed")


def test_admin_model_list_fits_1280_px(page, screenshot, log_in, staff_user):
    for index in range(3):
        ClassifierModel.objects.create(
            name=f"survey + simulated labels, tuned architecture, run {index} " * 2,
            file="training/classifiers/x.pt", sha256=str(index) * 64, code_version="a" * 40,
            metrics={"headline": {"accuracy": 0.9, "psnr_gap_to_oracle_db": 0.13}})
    log_in(page, "curator", "curator-pass-123")
    page.goto("/admin/training/classifiermodel/")
    table_right = page.eval_on_selector("#result_list", "t => t.getBoundingClientRect().right")
    assert table_right <= page.evaluate("window.innerWidth"), f"the table ends at {table_right}px"
    screenshot(page, "admin-models")  # also fails on a page wider than the 1280 px window
