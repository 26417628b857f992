"""Survey reads: what to show next, progress, statistics of the chosen k, labels."""
from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.db.models import Count, Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from survey.arrays import load_decomposition, load_group_decomposition, load_npy
from survey.labels import RESPONDENT_MEANS, GroupSurveyLabel, SurveyLabel
from survey.models import Presentation, Respondent, Response, Survey, SurveyImage
from survey.statistics import (
    KSummary, agreement, respondent_weights, summarize_by_group, weighted_label)

__all__ = ["GroupSurveyLabel", "SurveyLabel", "iter_survey_labels", "iter_group_survey_labels",
           "image_utilities", "current_survey", "next_image_for",
           "progress_for", "image_answers", "image_statistics", "survey_overview",
           "survey_weights", "exclusion_effect"]


def current_survey() -> Survey | None:
    """The survey the public pages run: the newest active one."""
    return Survey.objects.filter(is_active=True).order_by("-created_at", "-id").first()


def ready_images(survey: Survey) -> QuerySet[SurveyImage]:
    return survey.images.filter(status=SurveyImage.Status.READY, is_active=True)


def stable_seed(*parts: object) -> int:
    """A reproducible 32-bit seed from any values (respondent, image...)."""
    digest = hashlib.sha256("|".join(str(part) for part in parts).encode()).digest()
    return int.from_bytes(digest[:4], "little")


def next_image_for(respondent: Respondent, survey: Survey) -> SurveyImage | None:
    """The image this respondent should answer next.

    An image shown but not yet answered comes first (returning respondents continue where
    they left off); otherwise the least-answered image they have not done, ties broken at
    random (seeded by the respondent) so coverage stays balanced.
    """
    images = ready_images(survey)
    open_presentation = (
        Presentation.objects.filter(respondent=respondent, image__in=images)
        .exclude(image__responses__respondent=respondent)
        .order_by("shown_at", "id").first())
    if open_presentation is not None:
        return open_presentation.image
    remaining = (images.exclude(responses__respondent=respondent)
                 .annotate(n_answers=Count("responses")).order_by("n_answers", "id"))
    fewest = None
    tied: list[SurveyImage] = []
    for image in remaining.iterator():
        if fewest is None:
            fewest = image.n_answers
        if image.n_answers != fewest:
            break
        tied.append(image)
    if not tied:
        return None
    answered = respondent.responses.count()
    rng = np.random.default_rng(stable_seed(respondent.uid, answered))
    return tied[int(rng.integers(len(tied)))]


@dataclass(frozen=True)
class Progress:
    answered: int
    total: int

    @property
    def percent(self) -> int:
        return round(100 * self.answered / self.total) if self.total else 100


def progress_for(respondent: Respondent, survey: Survey) -> Progress:
    images = ready_images(survey)
    answered = respondent.responses.filter(image__in=images).count()
    return Progress(answered=answered, total=images.count())


def counted_responses(survey: Survey, *, without: int | None = None,
                      include: int | None = None) -> QuerySet[Response]:
    """Answers that count towards the statistics.

    The raw-noisy attention candidate has no k; with ``exclude_failed_attention`` every
    answer of a respondent who picked it (in this survey) is left out, and so is every
    answer of a respondent staff excluded. ``without`` leaves one more respondent out,
    ``include`` counts one excluded respondent anyway (what-if views for staff).
    """
    responses = Response.objects.filter(image__survey=survey, chosen_k__isnull=False).filter(
        Q(respondent__excluded_at__isnull=True) | Q(respondent_id=include))
    if survey.exclude_failed_attention:
        failed = Response.objects.filter(image__survey=survey, failed_attention_check=True)
        responses = responses.exclude(respondent__in=failed.values("respondent"))
    if without is not None:
        responses = responses.exclude(respondent_id=without)
    return responses


def ks_by_group(choices: list[tuple[str, int]]) -> dict[str, list[int]]:
    grouped: dict[str, list[int]] = {"expert": [], "non_expert": [], "all": []}
    for expertise, k in choices:
        if expertise in grouped:
            grouped[expertise].append(k)
        grouped["all"].append(k)
    return grouped


def survey_weights(survey: Survey, *, without: int | None = None,
                   include: int | None = None) -> dict[int, float]:
    """Each counted respondent's weight in the labels (survey.statistics.respondent_weights).

    One query over the survey's counted answers: distance from consensus is measured on
    every image a respondent answered. ``without`` / ``include`` as in counted_responses.
    """
    answers, verified = [], set()
    rows = counted_responses(survey, without=without, include=include).values_list(
        "respondent_id", "image_id", "chosen_k", "respondent__is_verified_expert")
    for respondent_id, image_id, k, is_verified in rows.iterator():
        answers.append((respondent_id, image_id, int(k)))
        if is_verified:
            verified.add(respondent_id)
    failed = set()
    if not survey.exclude_failed_attention:  # else they are not counted at all
        failed = set(Response.objects.filter(image__survey=survey, failed_attention_check=True)
                     .values_list("respondent_id", flat=True))
    return respondent_weights(answers, verified=verified, failed_attention=failed)


def image_answers(image: SurveyImage, *, without: int | None = None,
                  include: int | None = None) -> list[tuple[int, str, int]]:
    """``(respondent id, expertise, chosen k)`` of each counted answer of the image;
    expertise is the respondent's current declaration, so someone who corrects their
    profile moves with all their answers."""
    rows = counted_responses(image.survey, without=without, include=include).filter(
        image=image)
    return [(respondent_id, expertise, int(k)) for respondent_id, expertise, k in
            rows.values_list("respondent_id", "respondent__expertise", "chosen_k")]


@dataclass(frozen=True)
class ImageStatistics:
    image: SurveyImage
    summaries: dict[str, KSummary]
    ks: dict[str, list[int]]
    agreement: dict
    n_answers: int
    n_attention_failures: int
    #: survey.statistics.weighted_label of the counted answers: the label's mean k (robust:
    #: far-from-consensus respondents downweighted, verified experts upweighted), the
    #: weighted agreement and the effective number of respondents.
    robust: dict

    @property
    def label_k(self) -> int | None:
        mean = self.robust.get("mean")
        return None if mean is None else int(np.floor(mean + 0.5))


def _robust(answers: list[tuple[int, str, int]], weights: dict[int, float]) -> dict:
    return weighted_label([k for _, _, k in answers],
                          [weights.get(respondent, 1.0) for respondent, _, _ in answers])


def image_statistics(image: SurveyImage, *, weights: dict[int, float] | None = None
                     ) -> ImageStatistics:
    answers = image_answers(image)
    weights = survey_weights(image.survey) if weights is None else weights
    choices = [(expertise, k) for _, expertise, k in answers]
    grouped = ks_by_group(choices)
    return ImageStatistics(
        image=image, summaries=summarize_by_group(choices), ks=grouped,
        agreement=agreement(grouped), n_answers=image.responses.count(),
        n_attention_failures=image.responses.filter(failed_attention_check=True).count(),
        robust=_robust(answers, weights))


@dataclass(frozen=True)
class ExclusionEffect:
    """What one respondent does to one image's label."""

    image: SurveyImage
    chosen_k: int | None
    weight: float
    label_with: int | None
    label_without: int | None

    @property
    def changes_label(self) -> bool:
        return self.label_with != self.label_without


def exclusion_effect(respondent: Respondent) -> list[ExclusionEffect]:
    """For each image the respondent answered: the label with and without their answers.

    For a respondent staff already excluded, "with" is what counting them again would give;
    answers that do not count anyway (a failed attention check) change nothing.
    """

    def label(answers, weights) -> int | None:
        mean = _robust(answers, weights)["mean"]
        return None if mean is None else int(np.floor(mean + 0.5))

    effects = []
    surveys = Survey.objects.filter(images__responses__respondent=respondent).distinct()
    for survey in surveys.order_by("id"):
        weights_with = survey_weights(survey, include=respondent.pk)
        weights_without = survey_weights(survey, without=respondent.pk)
        for response in (respondent.responses.filter(image__survey=survey)
                         .select_related("image__survey").order_by("image_id")):
            image = response.image
            effects.append(ExclusionEffect(
                image=image, chosen_k=response.chosen_k,
                weight=weights_with.get(respondent.pk, 0.0),
                label_with=label(image_answers(image, include=respondent.pk), weights_with),
                label_without=label(image_answers(image, without=respondent.pk),
                                    weights_without)))
    return effects


def survey_overview(survey: Survey) -> list[ImageStatistics]:
    """Statistics of every image of the survey, in one query for the answers."""
    weights = survey_weights(survey)
    rows = counted_responses(survey).values_list("image_id", "respondent_id",
                                                 "respondent__expertise", "chosen_k")
    per_image: dict[int, list[tuple[int, str, int]]] = {}
    for image_id, respondent_id, expertise, k in rows.iterator():
        per_image.setdefault(image_id, []).append((respondent_id, expertise, int(k)))
    images = survey.images.annotate(
        n_answers=Count("responses", distinct=True),
        n_failures=Count("responses", filter=Q(responses__failed_attention_check=True),
                         distinct=True)).order_by("id")
    overview = []
    for image in images:
        answers = per_image.get(image.id, [])
        choices = [(expertise, k) for _, expertise, k in answers]
        grouped = ks_by_group(choices)
        overview.append(ImageStatistics(
            image=image, summaries=summarize_by_group(choices), ks=grouped,
            agreement=agreement(grouped), n_answers=image.n_answers,
            n_attention_failures=image.n_failures, robust=_robust(answers, weights)))
    return overview


def answers_per_day(survey: Survey) -> list[tuple[str, int]]:
    rows = (Response.objects.filter(image__survey=survey)
            .annotate(day=TruncDate("answered_at")).values("day")
            .annotate(n=Count("id")).order_by("day"))
    return [(row["day"].isoformat(), row["n"]) for row in rows]


def respondent_counts(survey: Survey) -> dict[str, int]:
    respondents = Respondent.objects.filter(responses__image__survey=survey).distinct()
    return {
        "respondents": respondents.count(),
        "experts": respondents.filter(expertise=Respondent.Expertise.EXPERT).count(),
        "verified_experts": respondents.filter(is_verified_expert=True).count(),
        "non_experts": respondents.filter(expertise=Respondent.Expertise.NON_EXPERT).count(),
        "answers": Response.objects.filter(image__survey=survey).count(),
    }


def labelled_images(*, survey: Survey | None = None, min_responses: int = 1,
                    candidate_method: str = SurveyImage.CandidateMethod.PAPER
                    ) -> list[SurveyImage]:
    """Ready images with at least `min_responses` counted answers (one aggregate query
    per survey; the answers themselves are read one image at a time later).

    Only images whose candidates are of ``candidate_method``: "paper" images label the
    paper's CNN (and fill the per-eigenpatch exports), "best" images the group classifier.
    """
    surveys = [survey] if survey is not None else list(Survey.objects.order_by("id"))
    labelled: list[SurveyImage] = []
    for each in surveys:
        counts = dict(counted_responses(each).values("image_id").annotate(n=Count("id"))
                      .values_list("image_id", "n"))
        eligible = [image_id for image_id, n in counts.items() if n >= max(min_responses, 1)]
        labelled.extend(each.images.filter(status=SurveyImage.Status.READY, id__in=eligible,
                                           candidate_method=candidate_method)
                        .select_related("survey").order_by("id"))
    return labelled


def label_provenance(image: SurveyImage, answers: list[tuple[int, str, int]],
                     weights: dict[int, float]) -> dict:
    choices = [(expertise, k) for _, expertise, k in answers]
    summaries = summarize_by_group(choices)
    robust = _robust(answers, weights)
    return {
        "survey": image.survey.slug,
        "survey_name": image.survey.name,
        "image_id": image.id,
        "image_title": image.title,
        "source": image.source,
        "source_detail": image.source_detail,
        "material": image.material,
        "dose": image.dose,
        "pixel_size": list(image.pixel_size) if image.pixel_size else None,
        "patch_size": image.patch_size,
        "decomposition_seed": image.decomposition_seed,
        "n_responses": summaries["all"].count,
        "n_expert": summaries["expert"].count,
        "n_non_expert": summaries["non_expert"].count,
        "mean_k": robust["mean"],
        "mean_k_unweighted": summaries["all"].mean,
        "n_effective": robust["n_effective"],
        "within_tolerance_weighted": robust["within_tolerance"],
        "n_downweighted": robust["downweighted"],
        "mean_k_expert": summaries["expert"].mean,
        "mean_k_non_expert": summaries["non_expert"].mean,
        "median_k": summaries["all"].median,
        "std_k": summaries["all"].std,
        "rule": (_GROUP_RULE if image.candidate_method == SurveyImage.CandidateMethod.BEST
                 else "eigenpatches 1..round(weighted mean k) are useful") + _WEIGHTS_RULE,
        "exported_at": timezone.now().isoformat(),
    }


#: How a default-method image's label follows from its mean choice (its candidates are
#: the levels of a threshold ladder; ``training.group_labels.labelled_groups``).
_GROUP_RULE = ("in every group, the components whose eigenvalue over the noise edge is at "
               "or above the threshold the weighted mean k sets on the image's ladder "
               "(group_thresholds, interpolated between levels) are useful")
_WEIGHTS_RULE = ("; weights: far from consensus counts less, verified experts double, "
                 "excluded respondents not at all (survey.statistics.respondent_weights)")


def iter_survey_labels(min_responses: int = 1, *,
                       survey: Survey | None = None) -> Iterator[SurveyLabel]:
    """Labelled decompositions, one image at a time (arrays are loaded lazily).

    Parameters
    ----------
    min_responses : int
        Images need at least this many counted answers.
    survey : Survey, optional
        Only this survey; default all surveys.
    """
    return labels_for(labelled_images(survey=survey, min_responses=min_responses))


def _label_provenances(images: list[SurveyImage]
                       ) -> Iterator[tuple[SurveyImage, dict[str, Any]]]:
    """Each image with its label provenance; respondent weights computed once per survey."""
    weights_by_survey: dict[int, dict[int, float]] = {}
    for image in images:
        if image.survey_id not in weights_by_survey:
            weights_by_survey[image.survey_id] = survey_weights(image.survey)
        yield image, label_provenance(image, image_answers(image),
                                      weights_by_survey[image.survey_id])


def labels_for(images: list[SurveyImage]) -> Iterator[SurveyLabel]:
    """The label of each image, reading its answers and arrays only when it is reached."""
    for image, provenance in _label_provenances(images):
        if provenance["mean_k"] is None:  # its answers stopped counting since it was listed
            continue
        decomposition = load_decomposition(image.decomposition_file.name)
        yield SurveyLabel(
            image_id=image.id,
            noisy=load_npy(image.noisy_file.name),
            clean=load_npy(image.clean_file.name) if image.clean_file else None,
            eigenpatches=decomposition.eigenpatches,
            eigenvalues=decomposition.eigenvalues,
            mean_k=float(provenance["mean_k"]),
            n_responses=int(provenance["n_responses"]),
            provenance=provenance,
        )


def iter_group_survey_labels(min_responses: int = 1, *, respondents: str = "all",
                             survey: Survey | None = None) -> Iterator[GroupSurveyLabel]:
    """Labels of the default-method images (candidates: levels of a threshold ladder), one
    at a time.

    ``respondents``: "all", "experts" or "non-experts": whose choices make the label
    (experts and non-experts never mix when one of them is chosen).
    """
    if respondents not in RESPONDENT_MEANS:
        raise ValueError(f"respondents must be one of {sorted(RESPONDENT_MEANS)}")
    images = labelled_images(survey=survey, min_responses=min_responses,
                             candidate_method=SurveyImage.CandidateMethod.BEST)
    for image, provenance in _label_provenances(images):
        mean = provenance.get(RESPONDENT_MEANS[respondents])
        if mean is None:  # none of the chosen respondents answered it
            continue
        count_key = {"all": "n_responses", "experts": "n_expert",
                     "non-experts": "n_non_expert"}[respondents]
        yield GroupSurveyLabel(
            image_id=image.id, groups=load_group_decomposition(image.decomposition_file.name),
            mean_k=float(mean), n_responses=int(provenance[count_key]),
            respondents=respondents,
            provenance={**provenance, "candidate_method": image.candidate_method,
                        "respondents": respondents})


def image_utilities(image: SurveyImage) -> list[dict] | None:
    """Per component index: the utility the image's votes imply beside the active group
    model's, for a default-method image (None for a paper image or without groups).

    ``votes``: the share of counted answers whose chosen per-group count keeps the
    component; ``model``: the share of the image's groups in which the active group
    classifier keeps it, and its mean probability there.
    """
    # the training app reads survey labels (a cycle at module level)
    from training import selectors as training_selectors

    if image.candidate_method != SurveyImage.CandidateMethod.BEST or \
            not image.decomposition_file:
        return None
    chosen = [k for _, _, k in image_answers(image)]
    return training_selectors.group_utility_table(
        load_group_decomposition(image.decomposition_file.name), chosen)
