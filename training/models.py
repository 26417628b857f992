"""Training data, trained classifiers and retraining runs.

Arrays live in ``.npz`` files under MEDIA_ROOT; rows here keep the provenance (where the
labels came from, with which rule) so automatic and survey labels sit side by side.
"""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class LabelSource(models.TextChoices):
    AUTO = "auto", "Automatic (simulated images with ground truth)"
    SURVEY = "survey", "Survey (microscopists' choices)"


class LabelledDataset(models.Model):
    """One batch of labelled eigenpatches, stored as an ``.npz`` file.

    The file holds, per image, its eigenpatches (``eigenpatches_<i>``), and flat arrays
    over all eigenpatches: ``eigenvalues``, ``labels``, ``image_index``,
    ``component_index``; plus ``image_keys`` and ``k_star`` per image.
    """

    name = models.CharField(max_length=200)
    source = models.CharField(max_length=16, choices=LabelSource.choices)
    label_rule = models.CharField(
        max_length=64, help_text="psnr-best, edited-ief, ssim-best, or survey-mean"
    )
    rule_parameters = models.JSONField(default=dict, blank=True)
    file = models.FileField(upload_to="training/datasets/")
    sha256 = models.CharField(max_length=64)
    n_images = models.PositiveIntegerField()
    n_eigenpatches = models.PositiveIntegerField()
    n_useful = models.PositiveIntegerField()
    summary = models.JSONField(
        default=dict, blank=True, help_text="materials, doses, pixel sizes, k* histogram"
    )
    seed = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.source}, {self.n_images} images)"


class LabelledImage(models.Model):
    """Provenance of one image's labels inside a dataset."""

    dataset = models.ForeignKey(LabelledDataset, on_delete=models.CASCADE, related_name="images")
    index = models.PositiveIntegerField(help_text="position of the image in the dataset file")
    image_key = models.CharField(
        max_length=200, help_text="what groups the split: one scene or survey image"
    )
    source = models.CharField(max_length=16, choices=LabelSource.choices)
    k_star = models.PositiveIntegerField()
    n_components = models.PositiveIntegerField()
    patch_size = models.PositiveIntegerField()
    provenance = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["dataset", "index"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "index"], name="unique_image_per_dataset")
        ]

    def __str__(self) -> str:
        return f"{self.image_key}: k*={self.k_star}/{self.n_components}"


class ClassifierKind(models.TextChoices):
    PAPER = "paper", "Paper CNN (the paper method's stacks)"
    GROUP = "group", "Group classifier (the default method's groups)"


class ClassifierModel(models.Model):
    """A trained eigenpatch classifier; per kind, exactly one (or none yet) is active.

    ``kind`` says which method's eigenpatches the model judges: a group model decides in
    the default method (what an upload with no options runs), a paper CNN in the paper
    method.
    """

    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=ClassifierKind.choices,
                            default=ClassifierKind.PAPER)
    file = models.FileField(upload_to="training/classifiers/")
    sha256 = models.CharField(max_length=64, db_index=True)
    architecture = models.JSONField(default=dict, blank=True)
    training_summary = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    code_version = models.CharField(max_length=100, blank=True)
    seed = models.BigIntegerField(null=True, blank=True)
    is_shipped = models.BooleanField(
        default=False, help_text="the default model that ships inside the package"
    )
    is_active = models.BooleanField(default=False)
    activated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # one active model per kind: the paper method's CNN and the default method's
            # group classifier are activated (and rolled back) independently
            models.UniqueConstraint(
                fields=["kind", "is_active"], condition=Q(is_active=True),
                name="one_active_classifier_per_kind"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name}{' (active)' if self.is_active else ''}"

    @property
    def headline_metrics(self) -> dict:
        """The few numbers the training page shows."""
        return self.metrics.get("headline", {}) if isinstance(self.metrics, dict) else {}


class ActivationEvent(models.Model):
    """Audit trail of activations; it is what "roll back" walks back through."""

    classifier = models.ForeignKey(
        ClassifierModel, on_delete=models.CASCADE, related_name="activations"
    )
    previous = models.ForeignKey(
        ClassifierModel, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=200, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.classifier} activated ({self.reason})"


class TrainingRun(models.Model):
    """One retraining: options, live progress (epochs, loss) and the result."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    class Source(models.TextChoices):
        AUTO = "auto", "Simulated images (automatic labels)"
        SURVEY = "survey", "Survey labels"
        BOTH = "both", "Both"

    source = models.CharField(max_length=16, choices=Source.choices, default=Source.BOTH)
    tune_trials = models.PositiveIntegerField(default=0)
    options = models.JSONField(default=dict, blank=True)
    auto_activate = models.BooleanField(
        default=False, help_text="activate the result only if it beats the active model"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    stage = models.CharField(max_length=200, blank=True)
    epoch = models.PositiveIntegerField(default=0)
    n_epochs = models.PositiveIntegerField(default=0)
    history = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    datasets = models.ManyToManyField(LabelledDataset, blank=True, related_name="runs")
    result = models.ForeignKey(
        ClassifierModel, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs"
    )
    activated = models.BooleanField(default=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    task_id = models.CharField(max_length=64, blank=True)
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="last sign of life from the worker running it"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Training run #{self.pk} ({self.source}, {self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED)

    @property
    def last_loss(self) -> float | None:
        return self.history[-1].get("train_loss") if self.history else None
