"""Retention: delete denoise jobs, uploads and results older than N days."""
from django.core.management.base import BaseCommand, CommandError

from denoiser.maintenance import purge_old_jobs, retention_days


class Command(BaseCommand):
    help = "Delete denoise jobs (uploads and results) older than --days days."

    def add_arguments(self, parser):
        parser.add_argument(
            "--days", type=float, default=None,
            help=f"age in days (default {retention_days()}, setting REUCID_RETENTION_DAYS)",
        )
        parser.add_argument("--dry-run", action="store_true", help="only count what would go")

    def handle(self, *args, days=None, dry_run=False, **options):
        if days is not None and days < 0:
            raise CommandError("--days must be zero or positive.")
        report = purge_old_jobs(older_than_days=days, dry_run=dry_run)
        verb = "would delete" if dry_run else "deleted"
        self.stdout.write(
            f"{verb} {report.jobs} job(s), {report.orphan_folders} orphan folder(s), "
            f"{report.scratch_files} scratch upload(s)"
        )
