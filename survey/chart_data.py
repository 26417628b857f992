"""What the staff charts plot, read from the database (a selector module for survey.charts)."""
from __future__ import annotations

from datetime import datetime

from survey.models import Response, Survey


def answer_times(survey: Survey) -> list[datetime]:
    """When each answer of the survey was given, oldest first (UTC)."""
    return list(Response.objects.filter(image__survey=survey)
                .order_by("answered_at").values_list("answered_at", flat=True))
