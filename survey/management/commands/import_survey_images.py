"""Add survey images in bulk: a folder of images, or images simulated by the training app."""
from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from survey.models import Survey
from survey.services.images import SurveyImageError
from survey.services.importing import find_image_sources, import_sources, simulated_sources


class Command(BaseCommand):
    help = ("Add survey images from a FOLDER (TIFF/DM/EMD/SER/MRC/HDF5/.npy, and .npz "
            "simulations with noisy_D/clean_D arrays), or --simulate them with the training "
            "app's simulator. Files already in the survey are skipped. Candidates are made in "
            "the background (Celery queue 'denoise').")

    def add_arguments(self, parser):
        parser.add_argument("folder", nargs="?", type=Path)
        parser.add_argument("--survey", required=True, help="Survey slug (created if missing "
                            "with --create).")
        parser.add_argument("--create", action="store_true", help="Create the survey.")
        parser.add_argument("--dose", type=float, action="append",
                            help="Only these doses from .npz simulations / doses to simulate "
                            "(e/Å²); repeatable.")
        parser.add_argument("--recursive", action="store_true")
        parser.add_argument("--simulate", nargs="+", metavar="MATERIAL",
                            help="Simulate these materials (e.g. SrTiO3_001 Si_110) instead of "
                            "reading a folder.")
        parser.add_argument("--size", type=int, default=128, help="Simulated image side (px).")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--no-candidates", action="store_true",
                            help="Only store the images; make candidates later in the admin.")

    def handle(self, *args, folder, survey, create, dose, recursive, simulate, size, seed,
               no_candidates, **options):
        if (folder is None) == (simulate is None):
            raise CommandError("give either a FOLDER or --simulate MATERIAL ...")
        target = Survey.objects.filter(slug=survey).first()
        if target is None:
            if not create:
                raise CommandError(f"no survey '{survey}'; add --create to make it")
            target = Survey.objects.create(name=survey.replace("-", " ").title(), slug=survey)
        try:
            if simulate:
                sources = simulated_sources(materials=simulate, doses=dose or [500.0],
                                            shape=(size, size), seed=seed)
            else:
                sources = find_image_sources(folder, doses=dose, recursive=recursive)
            added, skipped = import_sources(target, sources,
                                            make_candidates=not no_candidates)
        except (FileNotFoundError, SurveyImageError, KeyError) as error:
            raise CommandError(str(error)) from error
        except ValueError as error:  # unreadable microscope files (InvalidImageError)
            raise CommandError(f"cannot read an image: {error}") from error
        for image in added:
            self.stdout.write(f"added {image.id}: {image.title} ({image.get_status_display()})")
        self.stdout.write(self.style.SUCCESS(
            f"{len(added)} image(s) added to '{target.slug}', {len(skipped)} already there."))
