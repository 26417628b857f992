"""Management commands: the demo seed and bulk import."""
from __future__ import annotations

import numpy as np
import pytest
from django.core.management import CommandError, call_command  # noqa: F401

import survey.services.images as images_service
from survey.models import Survey, SurveyImage
from tests.survey.factories import lattice_image, toy_decompose

pytestmark = pytest.mark.django_db


@pytest.fixture
def fast_decompose(monkeypatch, settings):
    # the toy decomposition stands in for the paper's; images use paper candidates
    settings.REUCID_SURVEY_CANDIDATE_METHOD = "paper"
    monkeypatch.setattr(images_service, "_core_decompose", toy_decompose)


@pytest.fixture
def command(django_capture_on_commit_callbacks):
    """call_command, then run the candidate tasks it queued (the test's transaction never
    commits, so on_commit callbacks are run here, as the worker would)."""
    def run(*args):
        with django_capture_on_commit_callbacks(execute=True):
            call_command(*args)
    return run


def test_seed_survey_demo_is_idempotent(fast_decompose, command, capsys):
    pytest.importorskip("denoiser.reucid.simulation")
    command("seed_survey_demo", "--size", "48")
    survey = Survey.objects.get(slug="demo")
    first = list(survey.images.values_list("id", "status"))
    assert len(first) == 6 and {status for _, status in first} == {"ready"}
    image = survey.images.first()
    assert image.clean_file and image.source == "simulated" and image.pixel_size_row
    assert image.candidates.count() == 26
    command("seed_survey_demo", "--size", "48")
    assert list(survey.images.values_list("id", "status")) == first
    assert Survey.objects.count() == 1
    assert "6 already there" in capsys.readouterr().out


def test_seed_retries_failed_images(fast_decompose, command):
    pytest.importorskip("denoiser.reucid.simulation")
    command("seed_survey_demo", "--size", "48")
    SurveyImage.objects.filter(pk=SurveyImage.objects.first().pk).update(status="failed")
    command("seed_survey_demo", "--size", "48")
    assert not SurveyImage.objects.filter(status="failed").exists()


def test_import_a_folder_of_npy_and_simulation_npz(fast_decompose, command, tmp_path):
    noisy, clean = lattice_image(size=48)
    np.save(tmp_path / "frame.npy", noisy)
    np.savez(tmp_path / "SrTiO3_001_48.npz", noisy_100=noisy, clean_100=clean,
             noisy_1000=noisy * 10, clean_1000=clean * 10, infinite=clean / 100,
             pixel_size_A=np.array([0.2, 0.2]))
    (tmp_path / "notes.txt").write_text("not an image")
    command("import_survey_images", str(tmp_path), "--survey", "bulk", "--create")
    survey = Survey.objects.get(slug="bulk")
    images = list(survey.images.order_by("id"))
    assert [i.title for i in images] == ["SrTiO3_001_48 · dose 100", "SrTiO3_001_48 · dose 1000",
                                         "frame"]
    assert all(i.status == "ready" for i in images)
    assert images[0].clean_file and images[0].dose == 100 and images[0].material == "SrTiO3_001"
    assert images[0].pixel_size == (0.2, 0.2) and not images[2].clean_file
    command("import_survey_images", str(tmp_path), "--survey", "bulk")
    assert survey.images.count() == 3
    command("import_survey_images", str(tmp_path), "--survey", "dose", "--create",
                 "--dose", "1000", "--no-candidates")
    dosed = Survey.objects.get(slug="dose").images
    assert sorted(dosed.values_list("title", flat=True)) == ["SrTiO3_001_48 · dose 1000",
                                                             "frame"]
    assert set(dosed.values_list("status", flat=True)) == {"pending"}


def test_import_simulated_by_the_training_app(fast_decompose, command):
    pytest.importorskip("denoiser.reucid.simulation")
    command("import_survey_images", "--simulate", "Si_110", "--survey", "sim", "--create",
                 "--dose", "200", "--dose", "2000", "--size", "48")
    images = Survey.objects.get(slug="sim").images.order_by("dose")
    assert [i.dose for i in images] == [200, 2000]
    assert all(i.source == "simulated" and i.clean_file for i in images)


def test_import_errors_are_clear(command, tmp_path):
    with pytest.raises(CommandError, match="add --create"):
        command("import_survey_images", str(tmp_path), "--survey", "missing")
    with pytest.raises(CommandError, match="either a FOLDER"):
        command("import_survey_images", "--survey", "x", "--create")
    with pytest.raises(CommandError, match="not a folder"):
        command("import_survey_images", str(tmp_path / "nope"), "--survey", "x",
                     "--create")
    np.save(tmp_path / "tiny.npy", np.ones((4, 4)))
    with pytest.raises(CommandError, match="at least 32"):
        command("import_survey_images", str(tmp_path), "--survey", "x", "--create")


def test_import_a_real_experimental_image(shared_data, command, tmp_path):
    source = shared_data / "real" / "statstem_CsPbBr3_HAADF_241x246.npy"
    if not source.exists():
        pytest.skip(f"{source.name} is not in the shared data")
    (tmp_path / source.name).symlink_to(source)
    Survey.objects.create(name="Real", slug="real", k_max=6)
    command("import_survey_images", str(tmp_path), "--survey", "real")
    image = Survey.objects.get(slug="real").images.get()
    assert image.status == "ready", image.error
    assert (image.height, image.width) == (241, 246) and image.source == "experimental"
    assert image.candidates.count() == 7 and image.patch_size >= 3
