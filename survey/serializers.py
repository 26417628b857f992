"""Serializers of the survey REST API."""
from __future__ import annotations

from django.urls import reverse
from rest_framework import serializers

from survey.identity import respondent_token
from survey.models import Respondent, Response, ShownCandidate, SurveyImage
from survey.services.answers import previous_choice_token


class RespondentCreateSerializer(serializers.Serializer):
    consent = serializers.BooleanField(help_text="Must be true: the respondent agrees.")
    expertise = serializers.ChoiceField(choices=Respondent.Expertise.choices, required=False)
    field = serializers.CharField(required=False, allow_blank=True, max_length=200)
    years_experience = serializers.IntegerField(required=False, allow_null=True, min_value=0,
                                                max_value=80)
    invitation = serializers.CharField(required=False, allow_blank=True,
                                       help_text="Token of an expert invitation link.")


class RespondentSerializer(serializers.ModelSerializer):
    token = serializers.SerializerMethodField(
        help_text="Send as the X-Survey-Respondent header on later requests.")

    class Meta:
        model = Respondent
        fields = ["uid", "expertise", "field", "years_experience", "is_verified_expert",
                  "consented_at", "token"]
        read_only_fields = ["uid", "is_verified_expert", "consented_at", "token"]

    def get_token(self, respondent: Respondent) -> str:
        return respondent_token(respondent)


class ProfileSerializer(serializers.Serializer):
    expertise = serializers.ChoiceField(choices=Respondent.Expertise.choices)
    field = serializers.CharField(required=False, allow_blank=True, max_length=200)
    years_experience = serializers.IntegerField(required=False, allow_null=True, min_value=0,
                                                max_value=80)


class SurveyImageSerializer(serializers.ModelSerializer):
    survey = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    noisy_url = serializers.SerializerMethodField()
    has_ground_truth = serializers.SerializerMethodField()

    class Meta:
        model = SurveyImage
        fields = ["id", "survey", "title", "source", "material", "dose", "pixel_size_row",
                  "pixel_size_col", "height", "width", "noisy_url", "has_ground_truth"]

    def get_noisy_url(self, image: SurveyImage) -> str:
        url = reverse("survey:noisy-png", kwargs={"token": image.public_token})
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request else url

    def get_has_ground_truth(self, image: SurveyImage) -> bool:
        return bool(image.clean_file)


class BlindCandidateSerializer(serializers.ModelSerializer):
    """A candidate as a respondent sees it: their own token and a URL, never k."""

    url = serializers.SerializerMethodField()

    class Meta:
        model = ShownCandidate
        fields = ["token", "url"]

    def get_url(self, candidate: ShownCandidate) -> str:
        url = reverse("survey:candidate-png", kwargs={"token": candidate.token})
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request else url


class QuestionSerializer(serializers.Serializer):
    image = SurveyImageSerializer()
    candidates = BlindCandidateSerializer(many=True, help_text="In the order to show them.")
    previous_choice = serializers.CharField(allow_null=True,
                                            help_text="Token chosen before, if any.")
    answered = serializers.IntegerField()
    total = serializers.IntegerField()


class AnswerSerializer(serializers.Serializer):
    image = serializers.IntegerField(help_text="Survey image id.")
    candidate = serializers.CharField(max_length=32, help_text="Token of the chosen candidate.")
    time_taken_ms = serializers.IntegerField(required=False, allow_null=True, min_value=0)


class ResponseSerializer(serializers.ModelSerializer):
    candidate = serializers.SerializerMethodField(
        help_text="The respondent's own token of the chosen candidate.")

    class Meta:
        model = Response
        fields = ["id", "image", "candidate", "time_taken_ms", "revisions", "answered_at",
                  "updated_at"]

    def get_candidate(self, response: Response) -> str | None:
        return previous_choice_token(response.respondent, response.image)


class GroupSummarySerializer(serializers.Serializer):
    count = serializers.IntegerField()
    mean = serializers.FloatField(allow_null=True)
    median = serializers.FloatField(allow_null=True)
    std = serializers.FloatField(allow_null=True)
    q1 = serializers.FloatField(allow_null=True)
    q3 = serializers.FloatField(allow_null=True)
    minimum = serializers.IntegerField(allow_null=True)
    maximum = serializers.IntegerField(allow_null=True)


class ImageSummarySerializer(serializers.Serializer):
    image = serializers.IntegerField()
    label_k = serializers.IntegerField(allow_null=True)
    expert = GroupSummarySerializer()
    non_expert = GroupSummarySerializer()
    all = GroupSummarySerializer()
    agreement = serializers.DictField()
    robust = serializers.DictField(help_text="The label's weighted mean k, weighted agreement, "
                                   "effective number of respondents, answers downweighted.")
    ks = serializers.DictField(child=serializers.ListField(child=serializers.IntegerField()))
