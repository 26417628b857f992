"""Survey data: images with blinded candidate reconstructions, respondents and their choices.

A survey image holds ONE decomposition (eigenpatches and eigenvalues); its candidates are
truncations of that decomposition at k = 1..k_max eigenpatches. Respondents pick the
candidate that looks best; the chosen k becomes the label "eigenpatches 1..round(mean k)
are useful".
"""
from __future__ import annotations

import secrets
import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models


def new_token() -> str:
    """A random URL-safe token; candidate URLs use it so they never reveal k."""
    return secrets.token_urlsafe(16)


class Survey(models.Model):
    """One survey: a set of images and the rules for how they are shown."""

    class CandidateStrategy(models.TextChoices):
        ALL = "all", "All candidates (paper default)"
        SPREAD = "spread", "A subset spread over the range"
        ADAPTIVE = "adaptive", "A subset spread over the range, refined around the consensus"

    name = models.CharField(max_length=200)
    slug = models.SlugField(unique=True)
    description = models.TextField(blank=True)
    is_active = models.BooleanField(
        default=True, help_text="The newest active survey is the one the public pages run."
    )
    k_max = models.PositiveSmallIntegerField(
        default=25,
        validators=[MinValueValidator(2), MaxValueValidator(64)],
        help_text="Candidates are made for k = 1..k_max eigenpatches.",
    )
    candidate_strategy = models.CharField(
        max_length=16, choices=CandidateStrategy.choices, default=CandidateStrategy.ALL
    )
    candidates_per_question = models.PositiveSmallIntegerField(
        default=6,
        validators=[MinValueValidator(2)],
        help_text="How many candidates a question shows with the 'spread'/'adaptive' strategies.",
    )
    adaptive_after = models.PositiveSmallIntegerField(
        default=5,
        help_text="Adaptive strategy: responses an image needs before its range is narrowed.",
    )
    attention_check_every = models.PositiveSmallIntegerField(
        default=0,
        help_text="Show the raw noisy image among the candidates on about one question in N "
        "(0 = never).",
    )
    exclude_failed_attention = models.BooleanField(
        default=True,
        help_text="Leave out every answer of a respondent who picked the raw noisy image.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


class SurveyImage(models.Model):
    """A noisy image (experimental or simulated) shown in a survey."""

    class Source(models.TextChoices):
        EXPERIMENTAL = "experimental", "Experimental"
        SIMULATED = "simulated", "Simulated"

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for candidates"
        PROCESSING = "processing", "Making candidates"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    class CandidateMethod(models.TextChoices):
        # the default method at the levels 1..K of one run's threshold ladder (per-group
        # counts, K per group on average): a vote ranks what an upload returns, and
        # labels the group classifier
        BEST = "best", "Default method, per-group counts"
        # the paper's decomposition truncated at k = 1..K: labels the paper's CNN
        PAPER = "paper", "Paper method, global k"

    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="images")
    candidate_method = models.CharField(
        max_length=16, choices=CandidateMethod.choices, default=CandidateMethod.BEST,
        help_text="What the candidates are: the default method keeping k eigenpatches in "
        "every group, or the paper's decomposition truncated at k.")
    title = models.CharField(max_length=200)
    public_token = models.CharField(max_length=32, unique=True, default=new_token, editable=False)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.EXPERIMENTAL)
    source_detail = models.CharField(
        max_length=500, blank=True, help_text="Where the image came from (file, simulation).")
    material = models.CharField(max_length=200, blank=True)
    dose = models.FloatField(null=True, blank=True, help_text="Electron dose in e/Å².")
    pixel_size_row = models.FloatField(null=True, blank=True, help_text="Å")
    pixel_size_col = models.FloatField(null=True, blank=True, help_text="Å")
    noisy_file = models.FileField(upload_to="survey/images/", help_text="float32 .npy")
    clean_file = models.FileField(
        upload_to="survey/images/", blank=True, help_text="Ground truth, float32 .npy")
    height = models.PositiveIntegerField(default=0)
    width = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=True)

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    error = models.TextField(blank=True)
    decomposition_file = models.FileField(upload_to="survey/decompositions/", blank=True)
    patch_size = models.PositiveSmallIntegerField(null=True, blank=True)
    n_components = models.PositiveSmallIntegerField(default=0)
    decomposition_seed = models.IntegerField(default=0)
    reference_png = models.FileField(
        upload_to="survey/candidates/", blank=True,
        help_text="The noisy image shown as the reference: rendered apart from the attention "
        "candidate, so the two never share bytes.")
    display_low = models.FloatField(null=True, blank=True)
    display_high = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    candidates_made_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["survey", "status", "is_active"])]

    def __str__(self) -> str:
        return self.title

    @property
    def pixel_size(self) -> tuple[float, float] | None:
        if self.pixel_size_row is None or self.pixel_size_col is None:
            return None
        return (self.pixel_size_row, self.pixel_size_col)


class Candidate(models.Model):
    """One blinded candidate: a truncation at k eigenpatches, or the raw noisy image."""

    class Kind(models.TextChoices):
        RECONSTRUCTION = "reconstruction", "Reconstruction"
        NOISY = "noisy", "Raw noisy image (attention check)"

    image = models.ForeignKey(SurveyImage, on_delete=models.CASCADE, related_name="candidates")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.RECONSTRUCTION)
    k = models.PositiveSmallIntegerField(null=True, blank=True)
    token = models.CharField(max_length=32, unique=True, default=new_token, editable=False)
    png = models.FileField(upload_to="survey/candidates/")

    class Meta:
        ordering = ["image", "k"]
        constraints = [
            models.UniqueConstraint(fields=["image", "k"], name="survey_candidate_unique_k"),
            models.CheckConstraint(
                condition=(models.Q(kind="reconstruction", k__isnull=False)
                           | models.Q(kind="noisy", k__isnull=True)),
                name="survey_candidate_k_matches_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.image} · {'noisy' if self.k is None else f'k={self.k}'}"


class Invitation(models.Model):
    """A link staff hand to invited experts; whoever joins through it is a verified expert."""

    token = models.CharField(max_length=32, unique=True, default=new_token, editable=False)
    label = models.CharField(max_length=200, help_text="Who it is for (kept private).")
    max_uses = models.PositiveIntegerField(default=1)
    use_count = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.label

    @property
    def is_usable(self) -> bool:
        return self.is_active and self.use_count < self.max_uses


class Respondent(models.Model):
    """An anonymous participant, remembered by a signed cookie holding `uid`."""

    class Expertise(models.TextChoices):
        EXPERT = "expert", "Expert"
        NON_EXPERT = "non_expert", "Non-expert"

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    consented_at = models.DateTimeField()
    expertise = models.CharField(max_length=16, choices=Expertise.choices, blank=True)
    field = models.CharField(max_length=200, blank=True, help_text="Field of work.")
    years_experience = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(80)])
    is_verified_expert = models.BooleanField(default=False)
    excluded_at = models.DateTimeField(
        null=True, blank=True,
        help_text="Set by staff: none of this respondent's answers count towards labels.")
    exclusion_reason = models.CharField(max_length=500, blank=True)
    invitation = models.ForeignKey(
        Invitation, null=True, blank=True, on_delete=models.SET_NULL, related_name="respondents")
    created_at = models.DateTimeField(auto_now_add=True)
    profile_updated_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Respondent {str(self.uid)[:8]}"

    @property
    def has_profile(self) -> bool:
        return bool(self.expertise)


class Presentation(models.Model):
    """What a respondent was shown for an image: the candidates in their random order."""

    respondent = models.ForeignKey(
        Respondent, on_delete=models.CASCADE, related_name="presentations")
    image = models.ForeignKey(SurveyImage, on_delete=models.CASCADE, related_name="presentations")
    candidate_ids = models.JSONField(help_text="Candidate ids in the order shown.")
    includes_attention_check = models.BooleanField(default=False)
    shown_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["respondent", "image"], name="survey_one_presentation_per_image"),
        ]


class ShownCandidate(models.Model):
    """One candidate as one respondent sees it: a token of their own.

    Tokens are per respondent, so two respondents cannot compare notes on a token, a token
    seen once says nothing about anyone else's question, and the candidate's stored name and
    ``Candidate.token`` never leave the server.
    """

    presentation = models.ForeignKey(
        Presentation, on_delete=models.CASCADE, related_name="shown")
    candidate = models.ForeignKey(Candidate, on_delete=models.CASCADE, related_name="shown")
    position = models.PositiveSmallIntegerField(help_text="Place in the order shown.")
    token = models.CharField(max_length=32, unique=True, default=new_token, editable=False)

    class Meta:
        ordering = ["presentation", "position"]
        constraints = [
            models.UniqueConstraint(fields=["presentation", "position"],
                                    name="survey_shown_unique_position"),
            models.UniqueConstraint(fields=["presentation", "candidate"],
                                    name="survey_shown_unique_candidate"),
        ]

    @property
    def kind(self) -> str:
        return self.candidate.kind

    @property
    def k(self) -> int | None:
        return self.candidate.k

    @property
    def candidate_token(self) -> str:
        return self.candidate.token


class Response(models.Model):
    """A respondent's choice for an image; changing one's mind updates this row."""

    respondent = models.ForeignKey(Respondent, on_delete=models.CASCADE, related_name="responses")
    image = models.ForeignKey(SurveyImage, on_delete=models.CASCADE, related_name="responses")
    # RESTRICT: a chosen candidate cannot be deleted on its own, only with its whole image.
    candidate = models.ForeignKey(Candidate, on_delete=models.RESTRICT, related_name="responses")
    chosen_k = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Empty when the raw noisy image was chosen.")
    failed_attention_check = models.BooleanField(default=False)
    shown_ks = models.JSONField(
        help_text="The k of each candidate in the order shown (null = raw noisy image).")
    time_taken_ms = models.PositiveIntegerField(null=True, blank=True)
    expertise_at_answer = models.CharField(max_length=16, blank=True)
    revisions = models.PositiveIntegerField(
        default=0, help_text="Times the answer was submitted again.")
    answered_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["respondent", "image"], name="survey_one_response_per_image"),
        ]
        indexes = [models.Index(fields=["image", "chosen_k"])]
