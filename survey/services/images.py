"""Adding survey images and making their blinded candidates from one decomposition."""
from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable
from io import BytesIO

import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from PIL import Image

from denoiser.reucid import decompose
from survey.arrays import decomposition_bytes, group_decomposition_bytes, load_npy, npy_bytes
from survey.models import Candidate, Survey, SurveyImage, new_token
from survey.rendering import (
    display_range,
    encode_blinded_png,
    fixed_length_png,
    fixed_png_length,
)
from training import services as training_services

logger = logging.getLogger(__name__)

MIN_IMAGE_SIDE = 32
# Every candidate is a full-size image in the respondent's browser, and the decomposition
# keeps K full-size contribution images in memory: crop larger frames first.
DEFAULT_MAX_SURVEY_IMAGE_SIDE = 2048
#: Most per-group eigenpatch counts offered for a default-method image: the oracle's
#: per-group choice on simulations rarely passes 12 (docs/training.md).
MAX_GROUP_LEVEL = 12


def max_image_side() -> int:
    return min(int(getattr(settings, "REUCID_SURVEY_MAX_IMAGE_SIDE",
                           DEFAULT_MAX_SURVEY_IMAGE_SIDE)), settings.REUCID_MAX_IMAGE_SIDE)


class SurveyImageError(ValueError):
    """A survey image cannot be added or processed; the message says why."""


def validate_image(array: np.ndarray, *, what: str = "image") -> np.ndarray:
    """The image as float32 2-D, or a clear error."""
    image = np.asarray(array)
    if image.ndim != 2:
        raise SurveyImageError(f"the {what} must be a single 2-D frame, got shape {image.shape}")
    if min(image.shape) < MIN_IMAGE_SIDE:
        raise SurveyImageError(
            f"the {what} is {image.shape[0]}×{image.shape[1]} pixels; survey images need at "
            f"least {MIN_IMAGE_SIDE} pixels on each side")
    if max(image.shape) > max_image_side():
        raise SurveyImageError(
            f"the {what} is {image.shape[0]}×{image.shape[1]} pixels; survey images may be at "
            f"most {max_image_side()} pixels on a side (crop a region of interest)")
    if not np.issubdtype(image.dtype, np.number) or np.iscomplexobj(image):
        raise SurveyImageError(f"the {what} must hold real numbers")
    image = image.astype(np.float32)
    if not np.all(np.isfinite(image)):
        raise SurveyImageError(f"the {what} contains NaN or infinite pixels")
    if float(image.max()) == float(image.min()):
        raise SurveyImageError(f"the {what} is constant; there is nothing to denoise")
    return image


def add_survey_image(
    *, survey: Survey, noisy: np.ndarray, title: str, clean: np.ndarray | None = None,
    source: str = SurveyImage.Source.EXPERIMENTAL, source_detail: str = "", material: str = "",
    dose: float | None = None, pixel_size: tuple[float, float] | None = None,
    decomposition_seed: int = 0, make_candidates: bool = True,
    candidate_method: str | None = None,
) -> SurveyImage:
    """Store a noisy image (and optional ground truth) and queue its candidates.

    ``candidate_method``: "best", the default method at per-group eigenpatch counts, so
    votes rank what an upload returns and label the group classifier; or "paper", the
    paper's decomposition truncated at k (labels the paper's CNN). None: the
    ``REUCID_SURVEY_CANDIDATE_METHOD`` setting, "best" unless set.

    The candidates are made by the Celery task ``survey.generate_candidates`` once the
    transaction commits (eagerly in embedded mode and in tests).
    """
    noisy_image = validate_image(noisy, what="noisy image")
    clean_image = None
    if clean is not None:
        clean_image = validate_image(clean, what="ground truth")
        if clean_image.shape != noisy_image.shape:
            raise SurveyImageError(
                f"the ground truth is {clean_image.shape} but the noisy image is "
                f"{noisy_image.shape}")
    if source not in SurveyImage.Source.values:
        raise SurveyImageError(f"unknown source {source!r}")
    if candidate_method is None:
        candidate_method = getattr(settings, "REUCID_SURVEY_CANDIDATE_METHOD",
                                   SurveyImage.CandidateMethod.BEST)
    if candidate_method not in SurveyImage.CandidateMethod.values:
        raise SurveyImageError(f"unknown candidate method {candidate_method!r}")
    with transaction.atomic():
        image = SurveyImage(
            survey=survey, title=title[:200], source=source, source_detail=source_detail[:500],
            material=material[:200], dose=dose, height=noisy_image.shape[0],
            candidate_method=candidate_method,
            width=noisy_image.shape[1], decomposition_seed=decomposition_seed,
            pixel_size_row=None if pixel_size is None else float(pixel_size[0]),
            pixel_size_col=None if pixel_size is None else float(pixel_size[1]),
        )
        # Stored names are random and unrelated to public_token (which respondents see):
        # nothing private sits under a name a respondent could derive.
        image.noisy_file.save(f"{new_token()}.npy", npy_bytes(noisy_image), save=False)
        if clean_image is not None:
            image.clean_file.save(f"{new_token()}.npy", npy_bytes(clean_image), save=False)
        image.save()
        if make_candidates:
            queue_candidates(image)
    return image


def _same_modification_time(names: list[str]) -> None:
    """Give an image's candidate files one modification time.

    A proxy serving them (X-Accel-Redirect) derives Last-Modified and ETag from the file's
    time and size: equal sizes and equal times make those headers equal too.
    """
    moment = int(timezone.now().timestamp())
    for name in names:
        try:
            path = default_storage.path(name)
        except NotImplementedError:  # object storage: files are streamed by Django
            return
        os.utime(path, (moment, moment))


def queue_candidates(image: SurveyImage) -> None:
    """Queue candidate generation for after the current transaction commits."""
    # a real cycle: survey.tasks imports this module
    from survey.tasks import generate_candidates_task

    image_id = image.pk
    transaction.on_commit(lambda: generate_candidates_task.delay(image_id))


def _core_decompose(image: np.ndarray, *, n_components: int, seed: int):
    return decompose(image, n_components=n_components, seed=seed)


def generate_candidates(
    image_id: int, *, decompose: Callable[..., object] | None = None,
) -> SurveyImage:
    """Decompose the noisy image ONCE and store candidates for k = 1..K plus the raw image.

    A default-method image (``candidate_method == "best"``) runs the default method once
    and its candidate k is level k of that run's threshold ladder (on average k
    eigenpatches per group; ``training.services.make_group_candidates``); a paper image
    truncates the paper's decomposition at k.

    `decompose(image, n_components=, seed=)` must return an object with ``eigenpatches``,
    ``eigenvalues``, ``patch_size`` and ``reconstruct(k)`` (the core's `Decomposition`);
    it defaults to ``denoiser.reucid.decompose``. Every PNG uses the noisy image's
    0.5–99.5 percentile range, so the candidates are compared on one intensity scale.
    Candidates that respondents already chose are never replaced.

    Blinding (issue 16): every candidate, the attention candidate and the reference are
    fixed-length PNGs of one byte size with the same chunks, each with its own random
    dithering (the attention candidate and the reference look alike but share no bytes),
    stored under random names in random order with one common modification time.
    """
    decompose = decompose or _core_decompose
    with transaction.atomic():
        image = SurveyImage.objects.select_for_update().select_related("survey").get(pk=image_id)
        if image.responses.exists():
            raise SurveyImageError(
                f"'{image.title}' already has answers; its candidates cannot be remade")
        image.status = SurveyImage.Status.PROCESSING
        image.error = ""
        image.save(update_fields=["status", "error"])
    try:
        noisy = load_npy(image.noisy_file.name)
        if image.candidate_method == SurveyImage.CandidateMethod.BEST:
            # one run of the default method; candidate k is level k of its ladder
            made = training_services.make_group_candidates(
                noisy, max_level=min(image.survey.k_max, MAX_GROUP_LEVEL),
                seed=image.decomposition_seed)
            n_components, reconstruct, patch_size = made.n_levels, made.reconstruct, \
                made.patch_size
            stored_decomposition = group_decomposition_bytes(made.group_arrays(), patch_size)
        else:
            decomposition = decompose(noisy, n_components=image.survey.k_max,
                                      seed=image.decomposition_seed)
            eigenpatches = np.asarray(decomposition.eigenpatches, dtype=np.float32)
            eigenvalues = np.asarray(decomposition.eigenvalues, dtype=np.float32)
            n_components = min(int(eigenvalues.shape[0]), image.survey.k_max)
            if n_components < 2:
                raise SurveyImageError("the decomposition gave fewer than 2 eigenpatches")
            reconstruct, patch_size = decomposition.reconstruct, int(decomposition.patch_size)
            stored_decomposition = decomposition_bytes(
                eigenpatches[:n_components], eigenvalues[:n_components], patch_size)
        low, high = display_range(noisy)
        rng = np.random.default_rng(secrets.randbits(128))
        rendered = [(k, encode_blinded_png(np.asarray(reconstruct(k)), low=low,
                                           high=high, rng=rng))
                    for k in range(1, n_components + 1)]
        rendered.append((None, encode_blinded_png(noisy, low=low, high=high, rng=rng)))
        reference_png = encode_blinded_png(noisy, low=low, high=high, rng=rng)
    except Exception as error:
        SurveyImage.objects.filter(pk=image.pk).update(
            status=SurveyImage.Status.FAILED, error=str(error)[:2000] or type(error).__name__)
        raise
    with transaction.atomic():
        for old in image.candidates.all():
            old.png.delete(save=False)
            old.delete()
        if image.reference_png:
            image.reference_png.delete(save=False)
        # Unanswered questions shown with the old candidates are shown afresh.
        image.presentations.all().delete()
        image.decomposition_file.save(f"{new_token()}.npz", stored_decomposition, save=False)
        # Random order: neither row ids nor file write times follow k.
        stored = []
        for index in rng.permutation(len(rendered)):
            k, png = rendered[int(index)]
            candidate = Candidate(image=image, k=k, kind=Candidate.Kind.RECONSTRUCTION
                                  if k is not None else Candidate.Kind.NOISY)
            candidate.png.save(f"{new_token()}.png", ContentFile(png), save=False)
            candidate.save()
            stored.append(candidate.png.name)
        image.reference_png.save(f"{new_token()}.png", ContentFile(reference_png), save=False)
        stored.append(image.reference_png.name)
        _same_modification_time(stored)
        image.patch_size = patch_size
        image.n_components = n_components
        image.display_low, image.display_high = low, high
        image.status = SurveyImage.Status.READY
        image.candidates_made_at = timezone.now()
        image.save()
    logger.info("survey image %s: %d candidates ready", image.pk, n_components)
    return image


def ensure_reference(image: SurveyImage) -> SurveyImage:
    """The image with its own reference picture, rendering it now if it has none.

    Images whose candidates were made before references were rendered apart (issue 16)
    showed the attention candidate's file as the reference; they get a separately
    dithered rendering on first use.
    """
    if image.reference_png:
        return image
    if image.display_low is None or not image.noisy_file:
        raise SurveyImageError(f"'{image.title}' has no candidates yet")
    noisy = load_npy(image.noisy_file.name)
    png = encode_blinded_png(noisy, low=image.display_low, high=image.display_high,
                             rng=np.random.default_rng(secrets.randbits(128)))
    with transaction.atomic():
        locked = SurveyImage.objects.select_for_update().get(pk=image.pk)
        if not locked.reference_png:
            locked.reference_png.save(f"{new_token()}.png", ContentFile(png), save=False)
            locked.save(update_fields=["reference_png"])
    image.refresh_from_db(fields=["reference_png"])
    return image


def reblind_image(image: SurveyImage) -> int:
    """Rewrite an image's stored candidates as fixed-length PNGs under random names.

    For candidates made before issue 16 (compressed PNGs whose size followed k, named after
    the image's public token): the pixels are kept, the files re-encoded, renamed and given
    one modification time; the reference is rendered apart. Answers keep pointing at the
    same candidates. Returns how many candidate files were rewritten (0: already blinded).
    """



    length = fixed_png_length(image.height, image.width)
    rewritten = 0
    names = []
    for candidate in image.candidates.order_by("?"):
        if not candidate.png:
            continue
        old_name = candidate.png.name
        if candidate.png.size != length or image.public_token in old_name:
            with default_storage.open(old_name, "rb") as handle:
                pixels = np.asarray(Image.open(BytesIO(handle.read())).convert("L"))
            candidate.png.save(f"{new_token()}.png", ContentFile(fixed_length_png(pixels)),
                               save=False)
            candidate.save(update_fields=["png"])
            default_storage.delete(old_name)
            rewritten += 1
        names.append(candidate.png.name)
    image = ensure_reference(image)
    names.append(image.reference_png.name)
    _same_modification_time(names)
    return rewritten
