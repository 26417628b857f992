"""The upload form of the denoise page (also used when JavaScript is off)."""
from __future__ import annotations

from django import forms

from . import methods
from .classifier_choice import MAX_FIXED_K, NOISE_EDGE

CLASSIFIER_CHOICES = [
    ("active", "Active trained model (REUCID CNN)"),
    ("mp", "Marchenko–Pastur threshold (MP-PCA)"),
    ("gd", "Gavish–Donoho hard threshold"),
    ("k", "Fixed number of eigenpatches k"),
    (NOISE_EDGE, "Noise-edge rule (best method only)"),
]


class DenoiseForm(forms.Form):
    file = forms.FileField(label="STEM image", allow_empty_file=True)
    method = forms.ChoiceField(
        choices=[(name, methods.METHOD_LABELS[name]) for name in methods.METHODS],
        initial=methods.DEFAULT_METHOD, required=False, widget=forms.RadioSelect,
    )
    #: The method the page had selected when it was served (a hidden field): a request
    #: whose method is still that preset did not choose one, as far as the server can tell.
    method_preset = forms.CharField(required=False, widget=forms.HiddenInput)
    protect_defects = forms.BooleanField(
        label=methods.PROTECT_DEFECTS_LABEL, required=False, initial=False,
        help_text=methods.PROTECT_DEFECTS_HELP,
    )
    classifier = forms.ChoiceField(choices=CLASSIFIER_CHOICES, initial="active")
    k = forms.IntegerField(
        label="k", required=False, min_value=1, max_value=MAX_FIXED_K, initial=5,
        help_text="Only for the fixed-k comparison.",
    )
    patch_size = forms.IntegerField(
        label="Patch size (px)", required=False, min_value=3, max_value=99,
        help_text="Odd number; empty = estimated from the image's autocorrelation.",
    )
    seed = forms.IntegerField(label="Seed", min_value=0, max_value=2**32 - 1, initial=0)
    frame = forms.IntegerField(
        label="Frame", required=False, min_value=0,
        help_text="For a stack or series: which frame (0-based).",
    )
    n_stacks = forms.IntegerField(
        label="Stacks (d)", required=False, min_value=1, max_value=64,
        help_text="Empty: as many as memory requires (usually 1).",
    )

    def clean(self):
        data = super().clean()
        if data.get("classifier") == "k" and not data.get("k"):
            self.add_error("k", "Give the number of eigenpatches to keep.")
        return data

    def chosen_method(self) -> str | None:
        """"best", "paper", or None when the user did not choose (the service's default).

        Without JavaScript the page posts its preselected radio button, so a method equal
        to the page's preset (``method_preset``) counts as not chosen: for an image too
        large for "best" the job then falls back to "paper" instead of being refused.
        """
        method = self.cleaned_data.get("method") or None
        if method is not None and method == self.cleaned_data.get("method_preset"):
            return None
        return method

    def classifier_choice(self) -> str:
        """The value services.submit_job understands ("active", "mp", "gd", "k=N")."""
        choice = self.cleaned_data["classifier"]
        return f"k={self.cleaned_data['k']}" if choice == "k" else choice
