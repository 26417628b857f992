"""Admin for denoise jobs: inspect, requeue failed ones, delete with files."""
from django.contrib import admin, messages

from . import services
from .models import DenoiseJob, JobStatus
from .uploads import UploadRejected


@admin.register(DenoiseJob)
class DenoiseJobAdmin(admin.ModelAdmin):
    list_display = (
        "original_filename", "status", "owner", "method", "classifier_choice", "height", "width",
        "stacks_done", "n_stacks", "attempts", "created_at", "elapsed_seconds",
    )
    list_filter = ("status", "method", "protect_defects", "classifier_choice")
    search_fields = ("id", "original_filename", "owner__username")
    readonly_fields = [field.name for field in DenoiseJob._meta.fields]
    actions = ["requeue_failed", "delete_with_files"]

    @admin.action(description="Requeue selected failed jobs")
    def requeue_failed(self, request, queryset):
        count = 0
        for job in queryset.filter(status=JobStatus.FAILED):
            try:
                services.requeue_job(job)
                count += 1
            except UploadRejected as rejection:
                self.message_user(request, f"{job}: {rejection.message}", messages.WARNING)
        self.message_user(request, f"Requeued {count} job(s).")

    @admin.action(description="Delete selected jobs and their files")
    def delete_with_files(self, request, queryset):
        count = 0
        for job in queryset:
            services.delete_job(job)
            count += 1
        self.message_user(request, f"Deleted {count} job(s) and their files.")

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # it would leave the files behind
        return actions
