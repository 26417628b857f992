"""Exports: CSV of raw answers, JSON and NPZ of labelled eigenpatches, streamed."""
from __future__ import annotations

import csv
import io
import json
import tracemalloc

import numpy as np
import pytest
from django.contrib.admin.sites import site
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from survey.arrays import load_decomposition
from survey.models import Respondent, Response, Survey
from survey.services.exports import (
    CSV_COLUMNS,
    eigenpatch_arrays,
    iter_eigenpatches_json,
    iter_responses_csv,
    write_eigenpatches_npz,
)
from tests.survey.factories import make_respondent
from tests.survey.test_answers import answer

pytestmark = pytest.mark.django_db


@pytest.fixture
def answered(images):
    for k in (2, 3):
        answer(make_respondent("expert"), images[0], k)
    answer(make_respondent("non_expert"), images[0], 7)
    answer(make_respondent("non_expert"), images[1], 5)
    return images


def read_csv(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def test_csv_has_one_row_per_answer(answered):
    rows = read_csv("".join(iter_responses_csv(answered[0].survey)))
    assert len(rows) == 4 and list(rows[0]) == CSV_COLUMNS
    assert sorted(int(r["chosen_k"]) for r in rows if r["image_id"] == str(answered[0].id)) \
        == [2, 3, 7]
    shown = rows[0]["shown_ks"].split()
    assert sorted(map(int, shown)) == list(range(1, 9))
    assert rows[0]["expertise"] == "expert" and rows[0]["time_taken_ms"] == "900"


def test_json_labels_each_eigenpatch(answered):
    document = json.loads("".join(iter_eigenpatches_json(answered[0].survey)))
    assert document["provenance"]["survey"] == "test"
    first = document["images"][0]
    assert first["image_id"] == answered[0].id
    # k = 7 sits far from the consensus of 2 and 3: it counts a little less (robust label)
    assert first["provenance"]["mean_k_unweighted"] == pytest.approx(4)
    assert 3.5 < first["mean_k"] < 4
    patches = first["eigenpatches"]
    assert len(patches) == 8 and np.array(patches[0]["array"]).shape == (25, 25)
    assert [p["label"] for p in patches] == [True] * 4 + [False] * 4
    assert patches[0]["eigenvalue_normalised"] == pytest.approx(1.0)
    assert first["provenance"]["n_non_expert"] == 1 and "exported_at" in first["provenance"]
    assert len(json.loads("".join(iter_eigenpatches_json(answered[0].survey,
                                                         min_responses=2)))["images"]) == 1


def test_npz_holds_the_same_labels(answered):
    buffer = io.BytesIO()
    count = write_eigenpatches_npz(buffer, answered[0].survey)
    assert count == 16
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as data:
        assert data["eigenpatches"].shape == (16, 25, 25)
        assert data["eigenpatches"].dtype == np.float32
        assert data["labels"].tolist() == [True] * 4 + [False] * 4 + [True] * 5 + [False] * 3
        assert data["image_ids"].tolist() == [answered[0].id] * 8 + [answered[1].id] * 8
        assert data["component_index"][:3].tolist() == [1, 2, 3]
        assert data["mean_k"][0] == pytest.approx(json.loads("".join(iter_eigenpatches_json(
            answered[0].survey)))["images"][0]["mean_k"])
        provenance = json.loads(str(data["provenance"]))
        assert [p["image_id"] for p in provenance["images"]] == [answered[0].id,
                                                                 answered[1].id]

        stored = load_decomposition(answered[0].decomposition_file.name)
        expected, normalised = eigenpatch_arrays(stored.eigenpatches, stored.eigenvalues)
        assert np.allclose(data["eigenpatches"][:8], expected)
        assert np.allclose(data["eigenvalues"][:8], stored.eigenvalues)
        assert np.allclose(data["eigenvalues_normalised"][:8], normalised)


def test_empty_survey_exports_are_valid(survey):
    assert len(read_csv("".join(iter_responses_csv(survey)))) == 0
    assert json.loads("".join(iter_eigenpatches_json(survey)))["images"] == []
    buffer = io.BytesIO()
    assert write_eigenpatches_npz(buffer, survey) == 0
    buffer.seek(0)
    with np.load(buffer) as data:
        assert data["eigenpatches"].shape == (0, 25, 25)


def test_eigenpatch_arrays_are_25x25_with_normalised_eigenvalues():
    rng = np.random.default_rng(0)
    patches, values = rng.normal(size=(4, 9, 9)), np.array([4.0, 2.0, 1.0, 0.5])
    resized, normalised = eigenpatch_arrays(patches, values)
    assert resized.shape == (4, 25, 25) and resized.dtype == np.float32
    assert normalised.tolist() == [1.0, 0.5, 0.25, 0.125]


def _add_answers(image, count: int) -> None:
    candidate = image.candidates.get(k=4)
    now = timezone.now()
    respondents = Respondent.objects.bulk_create(
        Respondent(consented_at=now, expertise="expert") for _ in range(count))
    Response.objects.bulk_create(
        Response(respondent=r, image=image, candidate=candidate, chosen_k=4,
                 shown_ks=list(range(1, 9)), time_taken_ms=1000) for r in respondents)


def _export_peak(survey) -> tuple[int, int, int]:
    """(bytes exported, largest chunk, peak traced memory) of one full CSV export."""
    tracemalloc.start()
    total = largest = 0
    for chunk in iter_responses_csv(survey):
        total += len(chunk)
        largest = max(largest, len(chunk))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return total, largest, peak


def test_large_csv_export_streams_in_bounded_memory(images):
    """Memory stays at one chunk: four times the answers, not four times the memory."""
    image = images[0]
    _add_answers(image, 1500)
    small_total, small_chunk, small_peak = _export_peak(image.survey)
    _add_answers(image, 4500)
    total, largest_chunk, peak = _export_peak(image.survey)
    assert total > 3.5 * small_total
    assert largest_chunk == small_chunk  # fixed-size chunks of rows
    assert largest_chunk < total / 10
    assert peak < 1.5 * small_peak, f"peak {peak} B grew from {small_peak} B"


def test_staff_downloads_are_streamed(staff_client, answered):
    csv_response = staff_client.get(reverse("survey:api-export", args=["responses.csv"]),
                                    {"survey": "test"})
    assert csv_response.streaming and "attachment" in csv_response["Content-Disposition"]
    assert len(read_csv(b"".join(csv_response.streaming_content).decode())) == 4
    npz = staff_client.get(reverse("survey:staff-export", args=["eigenpatches.npz"]))
    assert npz.streaming
    with np.load(io.BytesIO(b"".join(npz.streaming_content))) as data:
        assert data["labels"].shape == (16,)
    page_json = staff_client.get(reverse("survey:staff-export", args=["eigenpatches.json"]))
    assert json.loads(b"".join(page_json.streaming_content))["images"]
    assert staff_client.get(reverse("survey:api-export", args=["nope.txt"])).status_code == 400


def test_admin_action_command_and_endpoint_give_the_same_csv(staff_client, answered,
                                                             tmp_path):
    survey = Survey.objects.get(slug="test")
    api_csv = b"".join(staff_client.get(reverse("survey:api-export", args=["responses.csv"]),
                                        {"survey": "test"}).streaming_content).decode()
    request = RequestFactory().post("/admin/survey/survey/")
    request.user = get_user_model().objects.get(username="staff")
    model_admin = site._registry[Survey]
    action = dict((name, func) for func, name, _ in model_admin._get_base_actions())[
        "export_responses_csv"]
    admin_csv = b"".join(action(model_admin, request, Survey.objects.filter(pk=survey.pk))
                         .streaming_content).decode()
    output = tmp_path / "answers.csv"
    call_command("export_survey", str(output), "--format", "csv", "--survey", "test")
    assert read_csv(api_csv) == read_csv(admin_csv) == read_csv(output.read_text())


def test_export_command_writes_npz_and_reports_errors(answered, tmp_path):
    output = tmp_path / "labels.npz"
    call_command("export_survey", str(output), "--format", "npz", "--min-responses", "2")
    with np.load(output) as data:
        assert set(data["image_ids"].tolist()) == {answered[0].id}
    with pytest.raises(CommandError, match="no survey"):
        call_command("export_survey", str(output), "--format", "csv", "--survey", "missing")
    with pytest.raises(CommandError, match="does not exist"):
        call_command("export_survey", str(tmp_path / "no" / "x.csv"), "--format", "csv")
