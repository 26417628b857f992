"""A simulated crowd that answers the survey through its public HTTP API (issue 19).

Every simulated respondent does what a browser or an API client does: it joins
(consent and profile, ``POST api/respondents/``), asks for its next question
(``GET api/next/``, or ``api/images/<id>/candidates/`` for chosen images) and votes
(``POST api/responses/``), so the join throttle, the blinded per-respondent tokens, the
attention checks and the one-answer-per-image rule all apply to it.

What it *sees* comes from an oracle. For each image the oracle remakes the candidates
exactly as the site made them (the default method at every level of its ladder, same seed)
and scores each against the stored ground truth with the fidelity-aware score
(:func:`fidelity_score`): PSNR plus the fidelity measures, each converted to decibels by
the retraining gate's tolerances. A candidate token is turned into the candidate it
shows by reading the database (a person would look at the picture instead); only the
choice travels back through the API.

Behaviours (:data:`BEHAVIOURS`): an expert picks the best-scoring candidate with a little
noise; a non-expert with more noise and a bias toward smoother candidates (fewer
eigenpatches); an inattentive respondent picks the raw noisy image whenever the
attention check shows it; an adversary always picks the largest ``k`` shown, or clicks
at random. Every random draw is keyed by ``(seed, respondent index, image)``, so a crowd
is reproducible and a respondent's choices do not depend on the order of questions.
"""
from __future__ import annotations

import json
import math
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.db import connection
from django.test import Client
from django.urls import reverse

from denoiser.reucid import decompose
from denoiser.reucid.metrics import psnr
from denoiser.reucid.metrics.fidelity import fidelity_metrics
from denoiser.reucid.metrics.image_quality import residual_correlation
from denoiser.reucid.simulation.scenes import make_scene
from survey.arrays import load_npy
from survey.models import Respondent, ShownCandidate, SurveyImage
from survey.selectors import counted_responses, current_survey, ready_images
from training import services as training_services
from training.selectors import gate_tolerances

__all__ = [
    "BEHAVIOURS", "Behaviour", "CrowdError", "CrowdReport", "ImageTruth", "PlannedRespondent",
    "Vote", "choose_candidate", "estimate_score", "fidelity_score", "image_truth",
    "parse_scene_detail", "plan_crowd", "run_crowd", "scene_detail",
]

SCENE_PREFIX = "scene"


class CrowdError(ValueError):
    """The crowd cannot run (no survey, no image with a ground truth...)."""


@dataclass(frozen=True)
class Behaviour:
    """How one kind of respondent turns scores into a choice.

    Attributes
    ----------
    name : str
        ``"expert"``, ``"non-expert"`` or ``"adversarial"``.
    noise_db : float
        Standard deviation of the perception noise added to each candidate's score (dB).
    smooth_bias_db : float
        Score removed per eigenpatch kept: a preference for smoother candidates (dB/k).
    """

    name: str
    noise_db: float
    smooth_bias_db: float = 0.0


#: The behaviours of the simulated crowd. The noise is in decibels of the fidelity-aware
#: score: an expert tells apart candidates a tenth of a decibel apart, a non-expert about
#: half a decibel, and a non-expert gives up ``smooth_bias_db`` per eigenpatch for a
#: smoother picture.
BEHAVIOURS: dict[str, Behaviour] = {
    "expert": Behaviour("expert", noise_db=0.1),
    "non-expert": Behaviour("non-expert", noise_db=0.5, smooth_bias_db=0.08),
    "adversarial": Behaviour("adversarial", noise_db=0.0),
}
ADVERSARIES = ("largest", "random")


@dataclass(frozen=True)
class PlannedRespondent:
    """One simulated respondent: who they are and how they answer.

    Attributes
    ----------
    index : int
        Position in the crowd; keys every random draw of this respondent.
    role : str
        A key of :data:`BEHAVIOURS`.
    inattentive : bool
        Picks the raw noisy image whenever an attention check shows it.
    adversary : str or None
        ``"largest"`` or ``"random"`` for an adversarial respondent.
    """

    index: int
    role: str
    inattentive: bool = False
    adversary: str | None = None

    @property
    def expertise(self) -> str:
        """What the respondent declares: adversaries pretend to be experts."""
        return (Respondent.Expertise.NON_EXPERT if self.role == "non-expert"
                else Respondent.Expertise.EXPERT)


def plan_crowd(n: int, *, experts: float = 0.3, adversarial: float = 0.0,
               adversary: str = "largest", attention_failures: float = 0.0, seed: int = 0,
               first_index: int = 0) -> list[PlannedRespondent]:
    """The crowd's respondents, with roles drawn reproducibly from ``seed``.

    ``round(adversarial * n)`` adversaries, ``round(experts * n)`` experts (at most the
    rest), the others non-experts; ``round(attention_failures * n)`` of the honest ones
    are inattentive.

    Examples
    --------
    >>> crowd = plan_crowd(10, experts=0.4, adversarial=0.2, attention_failures=0.1)
    >>> sorted(r.role for r in crowd).count("expert"), sum(r.inattentive for r in crowd)
    (4, 1)
    >>> plan_crowd(10, seed=3) == plan_crowd(10, seed=3)
    True
    """
    if n < 0:
        raise CrowdError("the number of respondents cannot be negative")
    for name, value in (("experts", experts), ("adversarial", adversarial),
                        ("attention failures", attention_failures)):
        if not 0.0 <= value <= 1.0:
            raise CrowdError(f"the fraction of {name} must be between 0 and 1")
    if adversary not in ADVERSARIES:
        raise CrowdError(f"the adversary must be one of {', '.join(ADVERSARIES)}")
    n_adversarial = int(round(adversarial * n))
    n_experts = min(int(round(experts * n)), n - n_adversarial)
    roles = (["adversarial"] * n_adversarial + ["expert"] * n_experts
             + ["non-expert"] * (n - n_adversarial - n_experts))
    rng = np.random.default_rng([int(seed), 1019])
    roles = [roles[i] for i in rng.permutation(n)]
    honest = [i for i, role in enumerate(roles) if role != "adversarial"]
    n_inattentive = min(int(round(attention_failures * n)), len(honest))
    inattentive = {honest[i] for i in rng.permutation(len(honest))[:n_inattentive]}
    return [PlannedRespondent(first_index + i, role, i in inattentive,
                              adversary if role == "adversarial" else None)
            for i, role in enumerate(roles)]


# --------------------------------------------------------------------------- the oracle

def scene_detail(name: str, material: str, seed: int, dose: float, size: int) -> str:
    """The ``source_detail`` of a survey image made from a fidelity scene.

    The oracle rebuilds the scene from it to get the per-column truth that the fidelity
    measures need (:func:`parse_scene_detail`).

    Examples
    --------
    >>> scene_detail("interface", "Au_110", 7, 1000.0, 96)
    'scene:interface:Au_110:7:1000:96'
    """
    return f"{SCENE_PREFIX}:{name}:{material}:{int(seed)}:{float(dose):g}:{int(size)}"


def parse_scene_detail(detail: str) -> dict[str, Any] | None:
    """The scene recipe of :func:`scene_detail`, or None for any other text.

    Examples
    --------
    >>> parse_scene_detail("scene:interface:Au_110:7:1000:96")["dose"]
    1000.0
    >>> parse_scene_detail("uploaded by staff") is None
    True
    """
    parts = (detail or "").split(":")
    if len(parts) != 6 or parts[0] != SCENE_PREFIX:
        return None
    try:
        return {"name": parts[1], "material": parts[2], "seed": int(parts[3]),
                "dose": float(parts[4]), "size": int(parts[5])}
    except ValueError:
        return None


def _measure_weights() -> dict[str, tuple[int, float]]:
    # direction and dB per unit: one gate tolerance of a measure counts as much as one
    # gate tolerance of PSNR
    tolerances = gate_tolerances()
    psnr_tolerance = tolerances["psnr"][1]
    return {name: (direction, psnr_tolerance / tolerance)
            for name, (direction, tolerance) in tolerances.items() if name != "psnr"}


def fidelity_score(measures: dict[str, float]) -> float:
    """The fidelity-aware score of one candidate, in dB.

    PSNR plus each fidelity measure present (and finite), converted to decibels so that
    one tolerance of the retraining gate (``training.group_evaluation.TOLERANCES``) weighs
    as much as the gate's PSNR tolerance: higher-is-better measures add, lower-is-better
    ones subtract, and ``intensity_slope`` loses its distance from 1.

    Examples
    --------
    >>> fidelity_score({"psnr": 30.0})
    30.0
    >>> fidelity_score({"psnr": 30.0, "residual_correlation": 0.03}) < 30.0
    True
    """
    score = float(measures["psnr"])
    for name, (direction, db_per_unit) in _measure_weights().items():
        value = measures.get(name)
        if value is None or not math.isfinite(float(value)):
            continue
        goodness = (float(value) if direction > 0 else -float(value) if direction < 0
                    else -abs(float(value) - 1.0))
        score += db_per_unit * goodness
    return score


@dataclass(frozen=True)
class ImageTruth:
    """What the oracle knows of one survey image.

    Attributes
    ----------
    image_id : int
    scores : dict
        Candidate ``k`` -> fidelity-aware score (dB).
    measures : dict
        Candidate ``k`` -> the measures behind the score.
    uses_column_truth : bool
        Whether the fidelity measures were computed (a scene's truth was rebuilt), or only
        PSNR and the residual correlation.
    """

    image_id: int
    scores: dict[int, float]
    measures: dict[int, dict[str, float]] = field(default_factory=dict)
    uses_column_truth: bool = False

    @property
    def best_k(self) -> int:
        """The ground-truth-best candidate (the smallest k among equal scores)."""
        return max(sorted(self.scores), key=lambda k: self.scores[k])


def _candidate_images(image: SurveyImage, noisy: np.ndarray) -> dict[int, np.ndarray]:
    """Every candidate of the image, remade as :func:`generate_candidates` made it."""
    ks = sorted(k for k in image.candidates.filter(k__isnull=False).values_list("k", flat=True))
    if image.candidate_method == SurveyImage.CandidateMethod.BEST:
        made = training_services.make_group_candidates(
            noisy, max_level=max(ks), seed=image.decomposition_seed)
        return {k: np.asarray(made.reconstruct(k), np.float64) for k in ks}
    decomposition = decompose(noisy, n_components=max(ks), seed=image.decomposition_seed)
    return {k: np.asarray(decomposition.reconstruct(k), np.float64) for k in ks}


@dataclass(frozen=True)
class _GroundTruth:
    """A survey image's input, clean image and (for a scene) its column truth."""

    noisy: np.ndarray
    clean: np.ndarray
    scene: Any

    def measure(self, estimate: np.ndarray) -> dict[str, float]:
        """The measures the fidelity-aware score weighs, of one estimate."""
        if self.scene is not None:
            measured = fidelity_metrics(self.clean, self.noisy, estimate, self.scene.truth,
                                        perfect=self.scene.perfect)
        else:
            measured = {"psnr": psnr(self.clean, estimate),
                        "residual_correlation": residual_correlation(self.clean, self.noisy,
                                                                     estimate)}
        return {name: float(value) for name, value in measured.items()
                if name == "psnr" or name in _measure_weights()}


def _ground_truth(image: SurveyImage) -> _GroundTruth:
    """Load a ready image's arrays; rebuild a scene image's column truth and check it."""
    if image.status != SurveyImage.Status.READY:
        raise CrowdError(f"survey image {image.pk} is not ready")
    if not image.clean_file:
        raise CrowdError(f"survey image {image.pk} has no ground truth; a simulated "
                         "respondent can only judge images with a clean image")
    noisy = np.asarray(load_npy(image.noisy_file.name), np.float64)
    clean = np.asarray(load_npy(image.clean_file.name), np.float64)
    scene = None
    recipe = parse_scene_detail(image.source_detail)
    if recipe is not None:
        scene = make_scene(recipe["name"], recipe["dose"], seed=recipe["seed"],
                           size=recipe["size"], material=recipe["material"])
        if scene.clean.shape != clean.shape or not np.allclose(scene.clean, clean,
                                                                rtol=1e-4, atol=1e-3):
            raise CrowdError(f"survey image {image.pk}: the scene {image.source_detail} "
                             "does not reproduce the stored ground truth")
    return _GroundTruth(noisy, clean, scene)


def image_truth(image: SurveyImage) -> ImageTruth:
    """Score every candidate of a ready survey image against its stored ground truth.

    A scene image (``source_detail`` from :func:`scene_detail`) is rebuilt to get the
    column truth; it must reproduce the stored clean image. Other images with a ground
    truth are scored on PSNR and the residual correlation.
    """
    truth = _ground_truth(image)
    scores, measures = {}, {}
    for k, estimate in _candidate_images(image, truth.noisy).items():
        measures[k] = truth.measure(estimate)
        scores[k] = fidelity_score(measures[k])
    return ImageTruth(image.pk, scores, measures, uses_column_truth=truth.scene is not None)


def estimate_score(image: SurveyImage, estimate: np.ndarray
                   ) -> tuple[float, dict[str, float]]:
    """The oracle's score and measures of any estimate of a survey image's noisy input.

    The same score :func:`image_truth` gives each candidate: what the image's denoising
    by a model (rather than a candidate) would be worth to a respondent who could see
    the clean image.
    """
    measures = _ground_truth(image).measure(np.asarray(estimate, np.float64))
    return fidelity_score(measures), measures


# --------------------------------------------------------------------------- choosing

def _rng(seed: int, index: int, image_id: int, what: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), int(index), int(image_id), int(what)])


def choose_candidate(shown: Sequence[int | None], truth: ImageTruth,
                     respondent: PlannedRespondent, *, seed: int) -> int:
    """The position, in ``shown``, of the candidate this respondent picks.

    ``shown`` holds each shown candidate's ``k`` (None: the raw noisy image of an
    attention check). The perception noise is drawn per ``k`` from ``(seed, respondent,
    image)``, so the choice does not depend on the order shown or on which other
    candidates are shown.

    Examples
    --------
    >>> truth = ImageTruth(1, {1: 30.0, 2: 33.0, 3: 32.0})
    >>> expert = PlannedRespondent(0, "expert")
    >>> choose_candidate([3, None, 2, 1], truth, expert, seed=0)
    2
    >>> choose_candidate([3, None, 2, 1], truth, PlannedRespondent(1, "adversarial",
    ...                  adversary="largest"), seed=0)
    0
    >>> choose_candidate([3, None, 2], truth, PlannedRespondent(2, "expert", True), seed=0)
    1
    """
    positions = [i for i, k in enumerate(shown) if k is not None]
    if not positions:
        raise CrowdError("no reconstruction among the shown candidates")
    if respondent.inattentive and len(positions) < len(shown):
        return shown.index(None)
    if respondent.role == "adversarial":
        if respondent.adversary == "random":
            draw = _rng(seed, respondent.index, truth.image_id, 2).integers(len(shown))
            return int(draw)
        return max(positions, key=lambda i: shown[i])
    behaviour = BEHAVIOURS[respondent.role]
    k_max = max(truth.scores)
    noise = _rng(seed, respondent.index, truth.image_id, 1).standard_normal(k_max + 1)

    def utility(i: int) -> float:
        k = int(shown[i])
        return (truth.scores[k] - behaviour.smooth_bias_db * k
                + behaviour.noise_db * float(noise[k]))

    return max(positions, key=utility)


# --------------------------------------------------------------------------- transport

class Transport:
    """One respondent's way to the API: ``request(method, path, data, headers)``."""

    def request(self, method: str, path: str, data: dict | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, Any, dict[str, str]]:
        raise NotImplementedError


class DjangoClientTransport(Transport):
    """The site in this process (Django's test client): no server needed.

    Each respondent comes from its own client address (a crowd is many people on many
    networks); ``address`` sets it.
    """

    def __init__(self, address: str) -> None:
        self.client = Client(REMOTE_ADDR=address)

    def request(self, method, path, data=None, headers=None):
        extra = {f"HTTP_{name.upper().replace('-', '_')}": value
                 for name, value in (headers or {}).items()}
        if method == "GET":
            response = self.client.get(path, **extra)
        else:
            response = self.client.post(path, data=json.dumps(data or {}),
                                        content_type="application/json", **extra)
        body = None
        if response.content and response.get("Content-Type", "").startswith(
                "application/json"):
            body = json.loads(response.content)
        return response.status_code, body, {k.lower(): v for k, v in response.items()}


class HttpTransport(Transport):
    """A running site over real HTTP (``urllib``), at ``base_url``."""

    def __init__(self, base_url: str, *, timeout_s: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s

    def request(self, method, path, data=None, headers=None):
        body = None if method == "GET" else json.dumps(data or {}).encode()
        request = urllib.request.Request(
            self.base_url + path, data=body, method=method,
            headers={"Accept": "application/json", "Content-Type": "application/json",
                     **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                status, raw, got = response.status, response.read(), dict(response.headers)
        except urllib.error.HTTPError as error:
            status, raw, got = error.code, error.read(), dict(error.headers)
        parsed = None
        if raw:
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = None
        return status, parsed, {k.lower(): v for k, v in got.items()}


def address_of(index: int) -> str:
    """A distinct private client address per respondent index.

    Examples
    --------
    >>> address_of(0), address_of(70000)
    ('10.0.0.1', '10.1.17.113')
    """
    number = int(index) + 1
    return f"10.{number // 65536 % 256}.{number // 256 % 256}.{number % 256}"


# --------------------------------------------------------------------------- the crowd

@dataclass(frozen=True)
class Vote:
    """One vote the API accepted (or refused)."""

    respondent: int
    role: str
    image_id: int
    k: int | None
    best_k: int
    status: int


@dataclass
class CrowdReport:
    """What the crowd did.

    Attributes
    ----------
    votes : list of Vote
        Every vote sent (``status`` 201 new, 200 a repeat, else refused).
    joined, throttled : int
        Respondents the API let in, and those it refused (429) for longer than allowed.
    counted : int
        Answers of this crowd the labels count (not excluded for a failed attention
        check or by staff).
    respondent_ids : dict
        Crowd index -> database id of the respondent.
    truths : dict
        Image id -> :class:`ImageTruth`.
    roles : dict
        Crowd index -> role, for every respondent who tried to join.
    """

    votes: list[Vote] = field(default_factory=list)
    joined: int = 0
    throttled: int = 0
    counted: int = 0
    respondent_ids: dict[int, int] = field(default_factory=dict)
    truths: dict[int, ImageTruth] = field(default_factory=dict)
    roles: dict[int, str] = field(default_factory=dict)

    @property
    def accepted(self) -> int:
        """Votes that created an answer (HTTP 201)."""
        return sum(v.status == 201 for v in self.votes)

    @property
    def repeated(self) -> int:
        """Votes sent again for an answered image (HTTP 200: the answer is updated)."""
        return sum(v.status == 200 for v in self.votes)

    @property
    def refused(self) -> int:
        """Votes the API refused (4xx)."""
        return sum(v.status >= 400 for v in self.votes)

    @property
    def attention_failures(self) -> int:
        """Accepted votes for the raw noisy image (the respondent's answers stop counting)."""
        return sum(v.status == 201 and v.k is None for v in self.votes)

    def by_role(self) -> dict[str, dict[str, Any]]:
        """Per role: respondents, accepted votes and the mean |k - best k| of their votes."""
        summary: dict[str, dict[str, Any]] = {}
        for role in sorted(set(self.roles.values())):
            votes = [v for v in self.votes if v.role == role and v.status == 201]
            errors = [abs(v.k - v.best_k) for v in votes if v.k is not None]
            summary[role] = {
                "respondents": sum(r == role for r in self.roles.values()),
                "votes": len(votes),
                "noisy_picked": sum(v.k is None for v in votes),
                "mean_k": float(np.mean([v.k for v in votes if v.k is not None]))
                if errors else None,
                "mean_abs_error": float(np.mean(errors)) if errors else None,
            }
        return summary

    def lines(self) -> list[str]:
        """A plain-text summary."""
        out = [f"respondents joined {self.joined}, refused by the join throttle "
               f"{self.throttled}",
               f"votes accepted {self.accepted}, repeated {self.repeated}, refused "
               f"{self.refused}; raw noisy image picked {self.attention_failures}; answers "
               f"that count {self.counted}"]
        for role, row in self.by_role().items():
            error = "-" if row["mean_abs_error"] is None else f"{row['mean_abs_error']:.2f}"
            mean_k = "-" if row["mean_k"] is None else f"{row['mean_k']:.2f}"
            out.append(f"  {role:<12} respondents {row['respondents']:>4}  votes "
                       f"{row['votes']:>5}  noisy {row['noisy_picked']:>3}  mean k {mean_k:>5}"
                       f"  mean |k - best k| {error}")
        return out


def _shown_ks(tokens: Sequence[str]) -> list[int | None]:
    """The k each of a respondent's tokens shows (None: the raw noisy image), read from
    the database: the oracle's eyes."""
    rows = dict(ShownCandidate.objects.filter(token__in=list(tokens))
                .values_list("token", "candidate__k"))
    missing = [t for t in tokens if t not in rows]
    if missing:
        raise CrowdError(f"{len(missing)} shown candidate token(s) are unknown")
    return [rows[t] for t in tokens]


def _answer_once(transport: Transport, headers: dict[str, str], question: dict,
                 truths: dict[int, ImageTruth], respondent: PlannedRespondent, *, seed: int,
                 repeat: bool, report_votes: list[Vote], lock: threading.Lock) -> None:
    image_id = int(question["image"]["id"])
    tokens = [c["token"] for c in question["candidates"]]
    truth = truths[image_id]
    shown = _shown_ks(tokens)
    position = choose_candidate(shown, truth, respondent, seed=seed)
    think_ms = int(_rng(seed, respondent.index, image_id, 3).integers(2000, 20000))
    payload = {"image": image_id, "candidate": tokens[position], "time_taken_ms": think_ms}
    sends = 2 if repeat else 1
    for _ in range(sends):
        status, _, _ = transport.request("POST", reverse("survey:api-responses"), payload,
                                         headers)
        with lock:
            report_votes.append(Vote(respondent.index, respondent.role, image_id,
                                     shown[position], truth.best_k, status))


def _join(transport: Transport, respondent: PlannedRespondent, *, max_wait_s: float,
          sleep: Callable[[float], None]) -> dict | None:
    waited = 0.0
    while True:
        status, body, headers = transport.request(
            "POST", reverse("survey:api-respondents"),
            {"consent": True, "expertise": respondent.expertise,
             "field": "simulated crowd", "years_experience": 10 if
             respondent.expertise == Respondent.Expertise.EXPERT else 0})
        if status == 201:
            return body
        if status != 429:
            raise CrowdError(f"joining the survey failed with HTTP {status}: {body}")
        wait = float(headers.get("retry-after") or 1.0)
        if waited + wait > max_wait_s:
            return None
        sleep(wait)
        waited += wait


def run_crowd(respondents: Sequence[PlannedRespondent], *, seed: int = 0,
              image_ids: Iterable[int] | None = None, base_url: str | None = None,
              concurrency: int = 1, repeat_fraction: float = 0.0, max_wait_s: float = 0.0,
              shared_address: bool = False,
              sleep: Callable[[float], None] = time.sleep) -> CrowdReport:
    """Let the planned respondents answer the running survey through the HTTP API.

    Parameters
    ----------
    respondents : sequence of PlannedRespondent
        :func:`plan_crowd`'s crowd.
    seed : int
        Keys every draw of the choices (with each respondent's index).
    image_ids : iterable of int, optional
        Answer these images (``api/images/<id>/candidates/``); default: follow
        ``api/next/`` until every open image is answered.
    base_url : str, optional
        A running site (real HTTP via ``urllib``); default: this process's site through
        Django's test client, each respondent from its own client address.
    concurrency : int
        Respondents answering at once (threads; each has its own client).
    repeat_fraction : float
        Share of votes sent twice (a double click): the API must update, not add.
    max_wait_s : float
        How long a respondent waits in total when the join throttle says 429 (it honours
        ``Retry-After``); after that it gives up and counts as throttled.
    shared_address : bool
        In-process only: every respondent comes from one client address (as behind one
        proxy), so the join throttle applies to the crowd as a whole.

    Returns
    -------
    CrowdReport
    """
    survey = current_survey()
    if survey is None:
        raise CrowdError("no survey is running (create an active survey first)")
    chosen = list(image_ids) if image_ids is not None else None
    images = ready_images(survey)
    if chosen is not None:
        images = images.filter(id__in=chosen)
        if images.count() != len(set(chosen)):
            raise CrowdError("some chosen images are not open in the running survey")
    images = list(images.order_by("id"))
    if not images:
        raise CrowdError("the running survey has no open image")
    report = CrowdReport()
    report.truths = {image.pk: image_truth(image) for image in images}
    lock = threading.Lock()
    main_thread = threading.current_thread()

    def one(respondent: PlannedRespondent) -> None:
        try:
            if base_url:
                transport: Transport = HttpTransport(base_url)
            else:
                transport = DjangoClientTransport(
                    "10.255.255.254" if shared_address else address_of(respondent.index))
            joined = _join(transport, respondent, max_wait_s=max_wait_s, sleep=sleep)
            with lock:
                report.roles[respondent.index] = respondent.role
                if joined is None:
                    report.throttled += 1
                    return
                report.joined += 1
            uid = joined["uid"]
            headers = {"X-Survey-Respondent": joined["token"]}
            repeat_rng = _rng(seed, respondent.index, 0, 4)

            def questions():
                if chosen is not None:
                    for image in images:
                        status, body, _ = transport.request(
                            "GET", reverse("survey:api-candidates", args=[image.pk]),
                            headers=headers)
                        if status != 200:
                            raise CrowdError(f"candidates of image {image.pk}: HTTP {status}")
                        yield body
                    return
                for _ in range(len(images) + 1):
                    status, body, _ = transport.request("GET", reverse("survey:api-next"),
                                                        headers=headers)
                    if status == 204:
                        return
                    if status != 200:
                        raise CrowdError(f"next question: HTTP {status}: {body}")
                    yield body

            for question in questions():
                if int(question["image"]["id"]) not in report.truths:
                    break  # an image opened after the crowd started: not judged
                _answer_once(transport, headers, question, report.truths, respondent,
                             seed=seed, repeat=bool(repeat_rng.random() < repeat_fraction),
                             report_votes=report.votes, lock=lock)
            database_id = Respondent.objects.filter(uid=uid).values_list("id", flat=True)[0]
            with lock:
                report.respondent_ids[respondent.index] = int(database_id)
        finally:
            if threading.current_thread() is not main_thread:
                connection.close()  # each thread's own database connection

    if concurrency <= 1:
        for respondent in respondents:
            one(respondent)
    else:
        with ThreadPoolExecutor(max_workers=int(concurrency)) as pool:
            for future in [pool.submit(one, r) for r in respondents]:
                future.result()
    report.votes.sort(key=lambda v: (v.respondent, v.image_id))
    report.counted = counted_responses(survey).filter(
        respondent_id__in=list(report.respondent_ids.values()),
        image_id__in=list(report.truths)).count()
    return report
