"""Forms of the survey pages."""
from __future__ import annotations

from django import forms

from survey.models import Respondent


class ConsentForm(forms.Form):
    consent = forms.BooleanField(
        required=True, label="I agree to take part and to the use of my answers as described.",
        error_messages={"required": "Please tick the box to agree before taking part."},
        widget=forms.CheckboxInput(attrs={"id": "survey-consent-checkbox"}))
    invitation = forms.CharField(required=False, widget=forms.HiddenInput)


class ProfileForm(forms.Form):
    expertise = forms.ChoiceField(
        choices=[
            (Respondent.Expertise.EXPERT,
             "Expert: I work with (S)TEM images as part of my job or research"),
            (Respondent.Expertise.NON_EXPERT, "Non-expert: I am not an electron microscopist"),
        ],
        widget=forms.RadioSelect(attrs={"class": "survey-expertise"}),
        label="How would you describe yourself?")
    field = forms.CharField(
        required=False, max_length=200, label="Your field (optional)",
        widget=forms.TextInput(attrs={"id": "survey-field", "placeholder":
                                      "e.g. materials science, catalysis, physics"}))
    years_experience = forms.IntegerField(
        required=False, min_value=0, max_value=80,
        label="Years of experience with electron microscopy (optional)",
        widget=forms.NumberInput(attrs={"id": "survey-years"}))

    def __init__(self, *args, verified: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if verified:
            # Staff vouched for this respondent through an invitation; the group is fixed.
            self.fields["expertise"].disabled = True
            self.fields["expertise"].initial = Respondent.Expertise.EXPERT


class AnswerForm(forms.Form):
    candidate = forms.CharField(max_length=32)
    time_taken_ms = forms.IntegerField(required=False, min_value=0)
