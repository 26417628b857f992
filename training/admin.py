"""Admin: upload, activate and roll back classifiers; start and watch training runs."""
from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.text import Truncator

from denoiser.reucid.errors import ModelLoadError

from . import services
from .measures import MEASURES
from .models import ActivationEvent, ClassifierModel, LabelledDataset, LabelledImage, TrainingRun


class ClassifierUploadForm(forms.ModelForm):
    """Adding a model = uploading a file; it is validated before anything is stored."""

    upload = forms.FileField(help_text="A REUCID eigenpatch-CNN model file (.pt).")

    class Meta:
        model = ClassifierModel
        fields = ["name"]

    def clean_upload(self):
        upload = self.cleaned_data["upload"]
        try:
            self.registered = services.register_classifier_file(
                upload, name=self.cleaned_data.get("name") or upload.name)
        except ModelLoadError as exc:
            raise forms.ValidationError(f"This file was refused: {exc}") from exc
        return upload


@admin.register(ClassifierModel)
class ClassifierModelAdmin(admin.ModelAdmin):
    # short columns: the change list fits a 1280 px screen (names and versions are
    # truncated here, whole on the model's page)
    list_display = ["short_name", "is_active", *[f"measure_{m.key}" for m in MEASURES],
                    "created"]
    list_filter = ["is_active", "is_shipped"]
    readonly_fields = ["file", "sha256", "architecture", "training_summary", "metrics",
                       "code_version", "seed", "is_shipped", "is_active", "activated_at",
                       "created_at"]
    actions = ["activate_selected", "roll_back"]

    class Media:
        css = {"all": ["training/admin.css"]}

    @admin.display(description="model", ordering="name")
    def short_name(self, obj):
        return format_html('<span title="{}">{}</span>', obj.name, Truncator(obj.name).chars(32))

    @admin.display(description="created", ordering="created_at")
    def created(self, obj):
        return obj.created_at.strftime("%Y-%m-%d %H:%M") if obj.created_at else "—"

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = ClassifierUploadForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else []

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["name", "upload"]
        return ["name", *self.readonly_fields]

    def save_model(self, request, obj, form, change):
        if change:
            obj.save(update_fields=["name"])
            return
        # The upload form already validated and stored the file as a new record.
        registered = form.registered
        obj.pk = registered.pk
        obj.__dict__.update({k: v for k, v in registered.__dict__.items() if k != "_state"})
        obj._state.adding = False

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and not (obj and obj.is_active)

    @admin.action(description="Activate the selected model")
    def activate_selected(self, request: HttpRequest, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one model to activate.", messages.ERROR)
            return
        model = queryset.get()
        try:
            services.activate_classifier(model, user=request.user, reason="activated in admin")
        except Exception as exc:  # noqa: BLE001 - shown to the admin, nothing changed
            self.message_user(request, f"Not activated: {exc}", messages.ERROR)
            return
        self.message_user(request, f"{model.name} is now the active classifier.",
                          messages.SUCCESS)

    @admin.action(description="Roll back to the previously active model")
    def roll_back(self, request: HttpRequest, queryset):
        try:
            model = services.roll_back_classifier(user=request.user)
        except services.TrainingError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        self.message_user(request, f"Rolled back: {model.name} is active again.",
                          messages.SUCCESS)


def _measure_column(measure):
    @admin.display(description=measure.name)
    def column(self, obj):
        return measure.text(obj)

    return column


for _measure in MEASURES:  # one name and one sign per measure: training.measures
    setattr(ClassifierModelAdmin, f"measure_{_measure.key}", _measure_column(_measure))


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    change_list_template = "admin/training/trainingrun/change_list.html"
    list_display = ["__str__", "status", "short_stage", "progress", "last_loss_display",
                    "result", "activated", "created"]
    list_filter = ["status", "source"]
    readonly_fields = ["source", "tune_trials", "options", "auto_activate", "status", "stage",
                       "epoch", "n_epochs", "history", "error", "datasets", "result",
                       "activated", "requested_by", "task_id", "created_at", "started_at",
                       "finished_at"]
    actions = ["start_like_selected"]

    def has_add_permission(self, request):
        return False  # runs are started with the button, not typed in

    class Media:
        css = {"all": ["training/admin.css"]}

    @admin.display(description="stage")
    def short_stage(self, obj):
        return format_html('<span title="{}">{}</span>', obj.stage,
                           Truncator(obj.stage or "").chars(40))

    @admin.display(description="created", ordering="created_at")
    def created(self, obj):
        return obj.created_at.strftime("%Y-%m-%d %H:%M") if obj.created_at else "—"

    @admin.display(description="epochs")
    def progress(self, obj):
        return f"{obj.epoch}/{obj.n_epochs}" if obj.n_epochs else "—"

    @admin.display(description="train loss")
    def last_loss_display(self, obj):
        return f"{obj.last_loss:.4f}" if obj.last_loss is not None else "—"

    def get_urls(self):
        return [path("start/", self.admin_site.admin_view(self.start_view),
                     name="training_trainingrun_start"), *super().get_urls()]

    def start_view(self, request: HttpRequest):
        if request.method != "POST":
            return HttpResponseRedirect(reverse("admin:training_trainingrun_changelist"))
        if not request.user.has_perm("training.change_trainingrun"):
            self.message_user(request, "You may not start training runs.", messages.ERROR)
            return HttpResponseRedirect(reverse("admin:training_trainingrun_changelist"))
        source = request.POST.get("source", TrainingRun.Source.BOTH)
        try:
            run = services.start_training_run(
                source=source, auto_activate=request.POST.get("auto_activate") == "on",
                user=request.user)
        except services.TrainingError as exc:
            self.message_user(request, str(exc), messages.ERROR)
        else:
            self.message_user(request, format_html(
                "Training run #{} queued; follow it on the <a href='/training/'>training "
                "page</a>.", run.pk), messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:training_trainingrun_changelist"))

    @admin.action(description="Start a new run with the same options")
    def start_like_selected(self, request, queryset):
        for run in queryset[:3]:
            new = services.start_training_run(source=run.source, tune_trials=run.tune_trials,
                                              auto_activate=run.auto_activate,
                                              user=request.user, options=run.options)
            self.message_user(request, f"Training run #{new.pk} queued.", messages.SUCCESS)


class LabelledImageInline(admin.TabularInline):
    model = LabelledImage
    extra = 0
    can_delete = False
    fields = ["index", "image_key", "source", "k_star", "n_components", "patch_size"]
    readonly_fields = fields
    max_num = 0


@admin.register(LabelledDataset)
class LabelledDatasetAdmin(admin.ModelAdmin):
    list_display = ["name", "source", "label_rule", "n_images", "n_eigenpatches", "n_useful",
                    "created_at"]
    list_filter = ["source", "label_rule"]
    readonly_fields = ["name", "source", "label_rule", "rule_parameters", "file", "sha256",
                       "n_images", "n_eigenpatches", "n_useful", "summary", "seed", "created_at"]
    inlines = [LabelledImageInline]

    class Media:
        css = {"all": ["training/admin.css"]}

    def has_add_permission(self, request):
        return False


@admin.register(ActivationEvent)
class ActivationEventAdmin(admin.ModelAdmin):
    list_display = ["classifier", "previous", "reason", "user", "created_at"]
    readonly_fields = ["classifier", "previous", "reason", "user", "created_at"]

    class Media:
        css = {"all": ["training/admin.css"]}

    def has_add_permission(self, request):
        return False
