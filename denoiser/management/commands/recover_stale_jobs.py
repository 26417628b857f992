"""Requeue or fail denoise jobs whose worker stopped (no heartbeat) or whose message was lost."""
from django.core.management.base import BaseCommand

from denoiser.maintenance import (
    queued_lost_after_seconds,
    recover_stale_jobs,
    stale_after_seconds,
)


class Command(BaseCommand):
    help = (
        "Requeue denoise jobs running without a heartbeat for --stale-after seconds, or "
        "queued for --queued-after seconds; fail them after REUCID_JOB_MAX_ATTEMPTS attempts."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--stale-after", type=float, default=None,
            help=f"seconds without heartbeat (default {stale_after_seconds()}, "
            "setting REUCID_JOB_STALE_AFTER_SECONDS)",
        )
        parser.add_argument(
            "--queued-after", type=float, default=None,
            help=f"seconds a job may wait in the queue before its message counts as lost "
            f"(default {queued_lost_after_seconds()}, REUCID_JOB_QUEUED_LOST_AFTER_SECONDS)",
        )

    def handle(self, *args, stale_after=None, queued_after=None, **options):
        report = recover_stale_jobs(stale_after=stale_after, queued_after=queued_after)
        self.stdout.write(
            f"requeued {len(report.requeued)} job(s), failed {len(report.failed)} job(s)"
        )
        for job_id in report.requeued:
            self.stdout.write(f"  requeued {job_id}")
        for job_id in report.failed:
            self.stdout.write(f"  failed   {job_id}")
