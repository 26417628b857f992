"""Rewrite survey candidates made before issue 16 so their files say nothing about k.

    python manage.py reblind_survey_images

Idempotent (start.sh runs it on every start): already blinded images are left as they are.
"""
from __future__ import annotations

from django.core.management.base import BaseCommand

from survey.models import SurveyImage
from survey.services.images import reblind_image


class Command(BaseCommand):
    help = "Re-encode old survey candidates as fixed-length PNGs under random names."

    def handle(self, *args, **options):
        images = SurveyImage.objects.filter(status=SurveyImage.Status.READY)
        changed = 0
        for image in images.iterator():
            if reblind_image(image):
                changed += 1
        if changed:
            self.stdout.write(f"re-encoded the candidates of {changed} survey image(s)")
