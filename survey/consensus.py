"""How a respondent's choices compare with everybody else's (read-only; the thank-you page).

For each image the respondent answered: the median number of eigenpatches chosen by the
other respondents who count (not excluded by staff, and whose answer was not the raw
noisy image of an attention check), and where the respondent's own choice sits. Only
the *difference* is shown, never a candidate's k, so the comparison reveals nothing about
the candidates of images still to be answered.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from statistics import median

from survey.models import Response, Survey, SurveyImage


@dataclass(frozen=True)
class ConsensusRow:
    """One answered image."""

    image: SurveyImage
    difference: float | None  # own k minus the others' median; None: nothing to compare
    n_others: int
    relation: str  # "same", "fewer", "more", "noisy", "alone"
    updated_at: datetime | None = None  # when the respondent last answered it

    @property
    def text(self) -> str:
        if self.relation == "alone":
            return "nobody else has answered this image yet"
        if self.relation == "noisy":
            return "you chose the raw noisy image (the attention check)"
        if self.relation == "same":
            return f"the same as the others (median of {self.n_others})"
        amount = abs(self.difference)
        count = f"{amount:g} eigenpatch{'' if amount == 1 else 'es'}"
        if self.relation == "fewer":
            return (f"{count} fewer than the others' median ({self.n_others} respondents): "
                    "smoother, may lose detail")
        return (f"{count} more than the others' median ({self.n_others} respondents): "
                "more detail, may keep noise")


def consensus_rows(respondent, survey: Survey) -> list[ConsensusRow]:
    """The respondent's answers of ``survey``, oldest first, each against the consensus."""
    own = list(Response.objects.filter(respondent=respondent, image__survey=survey)
               .select_related("image").order_by("answered_at"))
    others: dict[int, list[int]] = {}
    rows = (Response.objects.filter(image__in=[r.image_id for r in own],
                                    chosen_k__isnull=False, failed_attention_check=False,
                                    respondent__excluded_at__isnull=True)
            .exclude(respondent=respondent).values_list("image_id", "chosen_k"))
    for image_id, k in rows:
        others.setdefault(image_id, []).append(int(k))
    result = []
    for response in own:
        ks = others.get(response.image_id, [])
        if response.chosen_k is None:
            result.append(ConsensusRow(response.image, None, len(ks), "noisy",
                                       response.updated_at))
        elif not ks:
            result.append(ConsensusRow(response.image, None, 0, "alone", response.updated_at))
        else:
            difference = float(response.chosen_k) - float(median(ks))
            relation = "same" if difference == 0 else ("fewer" if difference < 0 else "more")
            result.append(ConsensusRow(response.image, difference, len(ks), relation,
                                       response.updated_at))
    return result
