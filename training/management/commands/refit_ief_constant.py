"""Refit the edited-IEF constant c from the survey's mean choices and report the fit."""
from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from training.labels import PAPER_IEF_CONSTANT
from training.services import TrainingError, refit_ief_constant


class Command(BaseCommand):
    help = ("Least-squares fit of the IEF constant c (k* = argmax IEF(k)/c^k) to the survey's "
            "mean choices on images with ground truth; prints the fit.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--min-responses", type=int, default=1)

    def handle(self, *args, **options) -> None:
        try:
            fit = refit_ief_constant(min_responses=options["min_responses"])
        except TrainingError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"fitted c = {fit.c:.4f} on {fit.n_images} survey images "
            f"(RMS error in k: {fit.rmse:.2f}; with the paper's c = {PAPER_IEF_CONSTANT}: "
            f"{fit.rmse_at_paper_c:.2f}); use it with "
            f"`train_classifier --rule edited-ief --c {fit.c:.4f}`"
        )
