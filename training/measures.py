"""The measures of a classifier model: one name, one sign, one format, everywhere.

The training page, its live-refreshed model table and the admin all show a model's
headline metrics through :data:`MEASURES`. The PSNR measures are differences "this model
minus the reference", so that both read the same way: positive is better than the
reference, negative is worse (the stored ``psnr_gap_to_oracle_db`` is oracle minus
model, hence ``sign=-1``).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Measure:
    """How one headline metric is named and shown."""

    key: str  # in ClassifierModel.headline_metrics
    name: str
    help: str
    sign: int = 1  # shown value = sign * stored value
    digits: int = 3
    signed: bool = False  # print "+" for positive values

    def value(self, model) -> float | None:
        stored = (getattr(model, "headline_metrics", None) or {}).get(self.key)
        return self.sign * float(stored) if isinstance(stored, (int, float)) else None

    def text(self, model) -> str:
        """The shown value, "—" when the model has none.

        Examples
        --------
        >>> class M: headline_metrics = {"psnr_gap_to_oracle_db": 0.134}
        >>> MEASURES_BY_KEY["psnr_gap_to_oracle_db"].text(M())
        '−0.13'
        >>> MEASURES_BY_KEY["accuracy"].text(M())
        '—'
        """
        value = self.value(model)
        if value is None:
            return "—"
        text = f"{abs(value):.{self.digits}f}"
        if value < 0 and float(text) != 0:
            return "−" + text
        return ("+" + text) if self.signed and float(text) != 0 else text


MEASURES: tuple[Measure, ...] = (
    Measure("accuracy", "Accuracy",
            "Share of held-out eigenpatches classified as the labels say."),
    Measure("balanced_accuracy", "Balanced accuracy",
            "Mean of the accuracy on useful and on noise eigenpatches."),
    Measure("psnr_gap_to_oracle_db", "PSNR vs oracle (dB)",
            "Model minus the best k chosen against ground truth, mean over held-out "
            "simulated materials at 100–10000 e/Å²: 0 is as good as the best k, negative worse.",
            sign=-1, digits=2, signed=True),
    Measure("psnr_gain_over_mp_db", "PSNR vs MP-PCA (dB)",
            "Model minus the Marchenko–Pastur rank rule on the same images: positive is better.",
            digits=2, signed=True),
)
MEASURES_BY_KEY = {measure.key: measure for measure in MEASURES}


def measure_rows(model) -> list[dict]:
    """``[{"name", "help", "text", "value"}]`` of a model, in the order of :data:`MEASURES`."""
    return [{"key": m.key, "name": m.name, "help": m.help, "text": m.text(model),
             "value": m.value(model)} for m in MEASURES]
