"""Celery tasks of the survey app (queue `denoise`); thin wrappers around services."""
from __future__ import annotations

import logging

from celery import shared_task

from survey.models import SurveyImage
from survey.services.images import generate_candidates

logger = logging.getLogger(__name__)


@shared_task(name="survey.generate_candidates")
def generate_candidates_task(image_id: int) -> str:
    """Make the blinded candidates of one survey image."""
    try:
        image = generate_candidates(image_id)
    except SurveyImage.DoesNotExist:
        logger.warning("survey image %s was deleted before its candidates were made", image_id)
        return "missing"
    except Exception:
        # The image's status and error field already say what went wrong (staff see it in
        # the admin); raising would also break the request that queued it in eager mode.
        logger.exception("survey image %s: making candidates failed", image_id)
        return "failed"
    return image.status
