"""Export the labelled dataset: raw answers (CSV), labelled eigenpatches (JSON, NPZ)."""
from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from survey.models import Survey
from survey.services.exports import (
    iter_eigenpatches_json,
    iter_responses_csv,
    write_eigenpatches_npz,
)


class Command(BaseCommand):
    help = ("Write a survey export to OUTPUT: --format csv (raw answers), json or npz "
            "(labelled 25×25 eigenpatches with eigenvalue, label, image id, provenance).")

    def add_arguments(self, parser):
        parser.add_argument("output", type=Path)
        parser.add_argument("--format", choices=["csv", "json", "npz"], required=True)
        parser.add_argument("--survey", help="Survey slug (default: all surveys).")
        parser.add_argument("--min-responses", type=int, default=1)

    def handle(self, *args, output, format, survey, min_responses, **options):
        chosen = None
        if survey:
            chosen = Survey.objects.filter(slug=survey).first()
            if chosen is None:
                raise CommandError(f"no survey '{survey}'")
        if min_responses < 1:
            raise CommandError("--min-responses must be at least 1")
        if not output.parent.is_dir():
            raise CommandError(f"folder {output.parent} does not exist")
        partial = output.with_name(output.name + ".partial")
        try:
            if format == "npz":
                with open(partial, "wb") as handle:
                    count = write_eigenpatches_npz(handle, chosen, min_responses=min_responses)
                summary = f"{count} labelled eigenpatches"
            else:
                chunks = (iter_responses_csv(chosen) if format == "csv" else
                          iter_eigenpatches_json(chosen, min_responses=min_responses))
                with open(partial, "w", encoding="utf-8", newline="") as handle:
                    for chunk in chunks:
                        handle.write(chunk)
                summary = "done"
            partial.replace(output)
        finally:
            partial.unlink(missing_ok=True)
        self.stdout.write(self.style.SUCCESS(f"wrote {output} ({summary})"))
