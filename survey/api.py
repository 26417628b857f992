"""The survey REST API, so a microscope plug-in or any client can run the survey.

Respondents are anonymous: ``POST respondents/`` returns a signed token to send as the
``X-Survey-Respondent`` header (browsers may rely on the signed cookie instead).

CSRF: a request that carries one of the site's cookies (respondent, session, CSRF) is a
browser session and must pass Django's CSRF check unless it sends the header token; a
request with none of them is an API client with no ambient credentials to abuse, so it
needs no CSRF token (and gets no cookie back, only the token). Joining is throttled per
client (survey.throttles).
"""
from __future__ import annotations

from django.conf import settings
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import permissions, status
from rest_framework.authentication import CSRFCheck
from rest_framework.exceptions import NotAuthenticated, PermissionDenied, ValidationError
from rest_framework.generics import ListAPIView, RetrieveAPIView
from rest_framework.response import Response as ApiResponse
from rest_framework.views import APIView

from survey.export_http import EXPORT_KINDS, export_response
from survey.identity import (
    COOKIE_NAME, HEADER_NAME, remember_respondent, respondent_from_request)
from survey.models import Survey, SurveyImage
from survey.selectors import current_survey, image_statistics, next_image_for, progress_for
from survey.serializers import (
    AnswerSerializer, ImageSummarySerializer, ProfileSerializer, QuestionSerializer,
    RespondentCreateSerializer, RespondentSerializer, ResponseSerializer,
    SurveyImageSerializer)
from survey.services.answers import (
    AnswerError, present_image, presented_candidates, previous_choice_token, submit_answer)
from survey.services.respondents import RespondentError, create_respondent, update_profile
from survey.throttles import JOIN_THROTTLES, invited

RESPONDENT_HEADER = OpenApiParameter(
    "X-Survey-Respondent", OpenApiTypes.STR, OpenApiParameter.HEADER, required=False,
    description="Token from POST respondents/ (or the signed cookie in a browser).")


class SurveyClientMixin:
    """Anonymous respondents; only the respondent token/cookie identifies them."""

    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self._enforce_csrf_for_cookie_clients(request)

    @staticmethod
    def is_browser_session(request) -> bool:
        """Whether the request carries any of the site's cookies (see the module)."""
        names = (COOKIE_NAME, settings.SESSION_COOKIE_NAME, settings.CSRF_COOKIE_NAME)
        return any(name in request.COOKIES for name in names)

    @classmethod
    def _enforce_csrf_for_cookie_clients(cls, request) -> None:
        # A browser adds the signed cookie to cross-site requests by itself, never the
        # header token: a write that rides on cookies must prove it is same-site. A client
        # with no cookie at all has nothing a forged request could ride on.
        if request.method in permissions.SAFE_METHODS or request.META.get(HEADER_NAME):
            return
        if not cls.is_browser_session(request):
            return
        check = CSRFCheck(lambda req: None)
        check.process_request(request)
        reason = check.process_view(request, None, (), {})
        if reason is not None:
            raise PermissionDenied("CSRF check failed: reload the survey page and try again")

    def respondent(self, request, *, needs_profile: bool = True):
        respondent = respondent_from_request(request)
        if respondent is None:
            raise NotAuthenticated("create a respondent first (POST respondents/) and send "
                                   "its token in the X-Survey-Respondent header")
        if needs_profile and not respondent.has_profile:
            raise ValidationError({"expertise": "set your expertise first (PATCH respondents/me/)"})
        return respondent

    def survey(self) -> Survey:
        survey = current_survey()
        if survey is None:
            raise ValidationError("no survey is running")
        return survey


class RespondentCreateView(SurveyClientMixin, APIView):
    throttle_classes = list(JOIN_THROTTLES)

    def get_throttles(self):
        # A valid staff invitation is its own limit (one use, or the uses staff allowed).
        data = self.request.data if hasattr(self.request.data, "get") else {}
        if invited(data.get("invitation")):
            return []
        return super().get_throttles()

    @extend_schema(request=RespondentCreateSerializer, responses={201: RespondentSerializer})
    def post(self, request):
        """Join the survey (consent, optional profile); returns the respondent token.

        API clients need no CSRF token or cookie; joins are limited per client (429).
        An ``invitation`` token from staff makes the respondent a verified expert;
        self-declared expertise does not.
        """
        payload = RespondentCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        try:
            respondent = create_respondent(consent=data["consent"],
                                           invitation_token=data.get("invitation") or None)
            if data.get("expertise") or respondent.is_verified_expert:
                update_profile(respondent,
                               expertise=data.get("expertise") or respondent.expertise,
                               field=data.get("field", ""),
                               years_experience=data.get("years_experience"))
        except RespondentError as error:
            raise ValidationError({"detail": str(error)}) from error
        response = ApiResponse(RespondentSerializer(respondent).data,
                               status=status.HTTP_201_CREATED)
        if not self.is_browser_session(request):
            return response  # an API client keeps the token it was given
        return remember_respondent(request, response, respondent)


class RespondentMeView(SurveyClientMixin, APIView):
    @extend_schema(parameters=[RESPONDENT_HEADER], responses=RespondentSerializer)
    def get(self, request):
        """The current respondent's profile."""
        return ApiResponse(RespondentSerializer(self.respondent(request,
                                                                needs_profile=False)).data)

    @extend_schema(parameters=[RESPONDENT_HEADER], request=ProfileSerializer,
                   responses=RespondentSerializer)
    def patch(self, request):
        """Set or change the profile (expertise, field, years of experience)."""
        respondent = self.respondent(request, needs_profile=False)
        payload = ProfileSerializer(data={
            "expertise": respondent.expertise, "field": respondent.field,
            "years_experience": respondent.years_experience, **request.data})
        payload.is_valid(raise_exception=True)
        try:
            update_profile(respondent, **payload.validated_data)
        except RespondentError as error:
            raise ValidationError({"detail": str(error)}) from error
        return ApiResponse(RespondentSerializer(respondent).data)


class OpenImagesMixin(SurveyClientMixin):
    serializer_class = SurveyImageSerializer

    def get_queryset(self):
        survey = current_survey()
        if survey is None:
            return SurveyImage.objects.none()
        return survey.images.filter(status=SurveyImage.Status.READY, is_active=True)


class SurveyImageListView(OpenImagesMixin, ListAPIView):
    """The images of the running survey that are open for answers."""


class SurveyImageDetailView(OpenImagesMixin, RetrieveAPIView):
    """One survey image."""


def _question_payload(request, respondent, image, survey):
    presentation = present_image(respondent, image)
    progress = progress_for(respondent, survey)
    return QuestionSerializer({
        "image": image, "candidates": presented_candidates(presentation),
        "previous_choice": previous_choice_token(respondent, image),
        "answered": progress.answered, "total": progress.total,
    }, context={"request": request}).data


class CandidatesView(SurveyClientMixin, APIView):
    @extend_schema(parameters=[RESPONDENT_HEADER], responses=QuestionSerializer)
    def get(self, request, pk: int):
        """The blinded candidates of one image, in this respondent's own random order."""
        respondent = self.respondent(request)
        survey = self.survey()
        image = get_object_or_404(SurveyImage, pk=pk, survey=survey,
                                  status=SurveyImage.Status.READY, is_active=True)
        return ApiResponse(_question_payload(request, respondent, image, survey))


class NextQuestionView(SurveyClientMixin, APIView):
    @extend_schema(parameters=[RESPONDENT_HEADER], responses={
        200: QuestionSerializer, 204: OpenApiResponse(description="Every image is answered.")})
    def get(self, request):
        """The next question: the least-answered image this respondent has not done."""
        respondent = self.respondent(request)
        survey = self.survey()
        image = next_image_for(respondent, survey)
        if image is None:
            return ApiResponse(status=status.HTTP_204_NO_CONTENT)
        return ApiResponse(_question_payload(request, respondent, image, survey))


class AnswerView(SurveyClientMixin, APIView):
    @extend_schema(parameters=[RESPONDENT_HEADER], request=AnswerSerializer,
                   responses={201: ResponseSerializer, 200: ResponseSerializer})
    def post(self, request):
        """Choose a candidate; choosing again for the same image changes the answer."""
        respondent = self.respondent(request)
        payload = AnswerSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        survey = self.survey()
        image = get_object_or_404(SurveyImage, pk=payload.validated_data["image"],
                                  survey=survey)
        try:
            answer, created = submit_answer(
                respondent, image, candidate_token=payload.validated_data["candidate"],
                time_taken_ms=payload.validated_data.get("time_taken_ms"))
        except AnswerError as error:
            raise ValidationError({"detail": str(error)}) from error
        return ApiResponse(ResponseSerializer(answer).data,
                           status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class ImageSummaryView(RetrieveAPIView):
    """Staff: statistics of the chosen k for one image, per group."""

    permission_classes = [permissions.IsAdminUser]
    serializer_class = ImageSummarySerializer
    queryset = SurveyImage.objects.select_related("survey")

    def retrieve(self, request, *args, **kwargs):
        statistics = image_statistics(self.get_object())
        return ApiResponse(ImageSummarySerializer({
            "image": statistics.image.id, "label_k": statistics.label_k,
            **{group: summary.as_dict() for group, summary in statistics.summaries.items()},
            "agreement": statistics.agreement, "robust": statistics.robust, "ks": statistics.ks,
        }).data)


class ExportView(APIView):
    """Staff: download the labelled dataset (streamed)."""

    permission_classes = [permissions.IsAdminUser]

    @extend_schema(
        parameters=[
            OpenApiParameter("kind", OpenApiTypes.STR, OpenApiParameter.PATH,
                             enum=list(EXPORT_KINDS)),
            OpenApiParameter("survey", OpenApiTypes.STR, description="Survey slug; all if "
                             "omitted."),
            OpenApiParameter("min_responses", OpenApiTypes.INT),
        ],
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    def get(self, request, kind: str):
        if kind not in EXPORT_KINDS:
            raise ValidationError({"kind": f"choose one of {', '.join(EXPORT_KINDS)}"})
        slug = request.query_params.get("survey")
        survey = get_object_or_404(Survey, slug=slug) if slug else None
        try:
            min_responses = max(1, int(request.query_params.get("min_responses", 1)))
        except ValueError as error:
            raise ValidationError({"min_responses": "a whole number"}) from error
        return export_response(kind, survey, min_responses=min_responses)
