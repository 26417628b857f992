"""Survey admin: surveys (with exports), images (upload, candidates), respondents
(verify experts), invitations (copyable links) and read-only answers."""
from __future__ import annotations

import tempfile
from pathlib import Path

from django import forms
from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from survey.arrays import read_image_file
from survey.export_http import export_response
from survey.models import Candidate, Invitation, Respondent, Response, Survey, SurveyImage
from survey.services.images import (
    SurveyImageError,
    add_survey_image,
    queue_candidates,
    validate_image,
)
from survey.services.respondents import (
    exclude_respondent,
    include_respondent,
    mark_verified_experts,
)


def _export_action(kind: str):
    def action(modeladmin, request, queryset):
        if queryset.count() != 1:
            modeladmin.message_user(request, "Select exactly one survey to export.",
                                    level=messages.ERROR)
            return None
        return export_response(kind, queryset.get())

    action.__name__ = "export_" + kind.replace(".", "_")
    return admin.action(description=f"Export {kind}")(action)


@admin.register(Survey)
class SurveyAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "is_active", "candidate_strategy", "attention_check_every",
                    "n_images", "results"]
    prepopulated_fields = {"slug": ["name"]}
    actions = [_export_action("responses.csv"), _export_action("eigenpatches.json"),
               _export_action("eigenpatches.npz")]

    @admin.display(description="images")
    def n_images(self, survey: Survey) -> int:
        return survey.images.count()

    @admin.display(description="results")
    def results(self, survey: Survey) -> str:
        url = reverse("survey:staff-overview") + f"?survey={survey.slug}"
        return format_html('<a href="{}">results</a>', url)


class SurveyImageAddForm(forms.ModelForm):
    upload = forms.FileField(
        help_text="The noisy image: TIFF, DM3/DM4, EMD, SER, MRC, HDF5 or .npy (one 2-D frame).")
    ground_truth = forms.FileField(required=False, help_text="Optional noise-free image.")

    class Meta:
        model = SurveyImage
        fields = ["survey", "title", "source", "source_detail", "material", "dose",
                  "pixel_size_row", "pixel_size_col", "decomposition_seed", "is_active"]

    def _read(self, upload):
        suffix = Path(upload.name).suffix.lower()
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / f"upload{suffix}"
            with open(path, "wb") as handle:
                for chunk in upload.chunks():
                    handle.write(chunk)
            try:
                return read_image_file(path)
            except (ValueError, OSError) as error:
                raise forms.ValidationError(f"Cannot read {upload.name}: {error}") from error

    def clean(self):
        data = super().clean()

        if data.get("upload"):
            try:
                noisy, data["file_pixel_size"] = self._read(data["upload"])
                data["noisy_array"] = validate_image(noisy, what="noisy image")
            except (forms.ValidationError, SurveyImageError) as error:
                self.add_error("upload", str(error.message if hasattr(error, "message")
                                             else error))
        if data.get("ground_truth"):
            try:
                clean, _ = self._read(data["ground_truth"])
                data["clean_array"] = validate_image(clean, what="ground truth")
            except (forms.ValidationError, SurveyImageError) as error:
                self.add_error("ground_truth", str(error.message if hasattr(error, "message")
                                                   else error))
        if data.get("noisy_array") is not None and data.get("clean_array") is not None \
                and data["noisy_array"].shape != data["clean_array"].shape:
            self.add_error("ground_truth", "The ground truth must have the noisy image's shape.")
        return data


class CandidateInline(admin.TabularInline):
    model = Candidate
    fields = ["kind", "k", "token", "preview"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="image")
    def preview(self, candidate: Candidate) -> str:
        # staff preview by the internal token (respondents each have their own tokens)
        url = reverse("survey:candidate-png", kwargs={"token": candidate.token})
        return format_html('<img src="{}" style="height:64px;image-rendering:pixelated">', url)


@admin.register(SurveyImage)
class SurveyImageAdmin(admin.ModelAdmin):
    list_display = ["title", "survey", "source", "material", "dose", "status", "n_components",
                    "n_answers", "is_active", "results"]
    list_filter = ["survey", "status", "source", "is_active"]
    search_fields = ["title", "material", "source_detail"]
    readonly_fields = ["status", "error", "height", "width", "patch_size", "n_components",
                       "display_low", "display_high", "candidates_made_at", "noisy_file",
                       "clean_file", "decomposition_file"]
    inlines = [CandidateInline]
    actions = ["make_candidates", "hide_images", "show_images"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = SurveyImageAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else []

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)

        data = form.cleaned_data
        pixel_size = None
        if data.get("pixel_size_row") and data.get("pixel_size_col"):
            pixel_size = (data["pixel_size_row"], data["pixel_size_col"])
        elif data.get("file_pixel_size"):
            pixel_size = data["file_pixel_size"]
        # The form already validated the arrays, so this cannot fail on bad input.
        created = add_survey_image(
            survey=data["survey"], noisy=data["noisy_array"], title=data["title"],
            clean=data.get("clean_array"), source=data["source"],
            source_detail=data.get("source_detail") or data["upload"].name,
            material=data.get("material", ""), dose=data.get("dose"),
            pixel_size=pixel_size, decomposition_seed=data.get("decomposition_seed") or 0)
        obj.pk = created.pk
        obj.refresh_from_db()

    @admin.display(description="answers")
    def n_answers(self, image: SurveyImage) -> int:
        return image.responses.count()

    @admin.display(description="results")
    def results(self, image: SurveyImage) -> str:
        return format_html('<a href="{}">results</a>',
                           reverse("survey:staff-image", kwargs={"image_id": image.pk}))

    @admin.action(description="Make (or remake) candidates in the background")
    def make_candidates(self, request, queryset):
        queued, skipped = 0, 0
        for image in queryset:
            if image.responses.exists():
                skipped += 1
                continue
            queue_candidates(image)
            queued += 1
        self.message_user(request, f"Queued {queued} image(s)." + (
            f" Skipped {skipped} that already have answers." if skipped else ""))

    @admin.action(description="Hide from respondents")
    def hide_images(self, request, queryset):
        self.message_user(request, f"Hid {queryset.update(is_active=False)} image(s).")

    @admin.action(description="Show to respondents")
    def show_images(self, request, queryset):
        self.message_user(request, f"Showing {queryset.update(is_active=True)} image(s).")


@admin.register(Respondent)
class RespondentAdmin(admin.ModelAdmin):
    list_display = ["uid", "expertise", "is_verified_expert", "field", "years_experience",
                    "n_answers", "excluded_at", "effect", "created_at"]
    list_filter = ["expertise", "is_verified_expert", ("excluded_at", admin.EmptyFieldListFilter)]
    search_fields = ["uid", "field"]
    readonly_fields = ["uid", "consented_at", "created_at", "profile_updated_at", "invitation",
                       "excluded_at"]
    actions = ["verify_experts", "exclude_from_labels", "include_in_labels"]

    @admin.display(description="effect on labels")
    def effect(self, respondent: Respondent) -> str:
        url = reverse("survey:staff-respondent", kwargs={"respondent_id": respondent.pk})
        return format_html('<a href="{}">with / without</a>', url)

    @admin.action(description="Exclude from the labels (answers kept, not counted)")
    def exclude_from_labels(self, request, queryset):
        for respondent in queryset.filter(excluded_at__isnull=True):
            exclude_respondent(respondent, reason=f"excluded by {request.user} in the admin")
        self.message_user(request, "Excluded; open 'with / without' to see the labels move.")

    @admin.action(description="Count their answers again")
    def include_in_labels(self, request, queryset):
        for respondent in queryset.exclude(excluded_at__isnull=True):
            include_respondent(respondent)
        self.message_user(request, "Their answers count again.")

    @admin.display(description="answers")
    def n_answers(self, respondent: Respondent) -> int:
        return respondent.responses.count()

    @admin.action(description="Mark as verified experts")
    def verify_experts(self, request, queryset):
        self.message_user(request, f"{mark_verified_experts(queryset)} respondent(s) verified.")


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["label", "link", "use_count", "max_uses", "is_active", "created_at"]
    readonly_fields = ["link", "use_count", "created_by", "created_at"]
    fields = ["label", "max_uses", "is_active", "link", "use_count", "created_by", "created_at"]

    @admin.display(description="invitation link (send this)")
    def link(self, invitation: Invitation) -> str:
        if not invitation.pk:
            return "— shown after saving —"
        url = reverse("survey:invitation", kwargs={"token": invitation.token})
        return format_html('<code>{}</code>', url)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(Response)
class ResponseAdmin(admin.ModelAdmin):
    list_display = ["id", "image", "respondent", "chosen_k", "failed_attention_check",
                    "time_taken_ms", "revisions", "updated_at"]
    list_filter = ["image__survey", "failed_attention_check", "respondent__expertise"]
    list_select_related = ["image", "respondent"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
