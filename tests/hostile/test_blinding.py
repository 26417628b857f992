"""Blinding as a respondent's script would attack it: nothing a client can measure about a
candidate's answer follows k.

Before issue 16 a candidate PNG's byte size rose with k (Spearman 0.997-1.000: sorting by
size gave the exact k), the reference was the attention candidate's very file, served
with that candidate's token as its Content-Disposition filename, every respondent saw the
same tokens, and the ground truth downloaded from a name built on the image's public token.
"""
from __future__ import annotations

import io
import re

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from PIL import Image
from scipy.stats import spearmanr

from survey.identity import respondent_token
from survey.rendering import encode_png
from survey.services.answers import present_image, presented_candidates
from survey.services.images import reblind_image
from tests.survey.conftest import login_respondent
from tests.survey.factories import make_ready_image, make_respondent, make_survey

pytestmark = pytest.mark.django_db

#: |Spearman rho| above this between k and a measurable property fails the test. With the
#: ~100-300 pairs below, chance alone stays under 0.25 with odds better than 1 in 10^4.
MAX_RHO = 0.25


@pytest.fixture
def blinded_survey():
    survey = make_survey(k_max=8, attention_check_every=1)
    images = [make_ready_image(survey, seed=seed) for seed in range(3)]
    return survey, images


def fetch(client: Client, url: str, **headers):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, **headers)
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return response, body, len(queries)


def visible_headers(response) -> dict[str, str]:
    return {name.lower(): value for name, value in response.items()}


def test_every_candidate_answer_looks_the_same_apart_from_the_picture(blinded_survey):
    _, images = blinded_survey
    respondent = make_respondent()
    client = login_respondent(Client(), respondent)
    for image in images:
        shown = presented_candidates(present_image(respondent, image))
        assert any(c.kind == "noisy" for c in shown), "the attention check is shown"
        answers = [fetch(client, f"/survey/c/{c.token}.png") for c in shown]
        reference = fetch(client, f"/survey/n/{image.public_token}.png")
        for response, body, _ in answers + [reference]:
            assert response.status_code == 200
        headers = [visible_headers(r) for r, _, _ in answers + [reference]]
        assert all(h == headers[0] for h in headers), headers
        assert headers[0]["content-disposition"] == 'inline; filename="image.png"'
        sizes = {len(body) for _, body, _ in answers + [reference]}
        assert len(sizes) == 1, f"sizes differ: {sorted(sizes)}"
        assert {queries for _, _, queries in answers} == {answers[0][2]}, \
            "the same server work for every candidate (the timing a client sees)"
        for c in shown:
            assert c.token not in headers[0]["content-disposition"]
            assert c.candidate.token not in str(headers)


def test_the_attention_candidate_is_not_the_reference_file(blinded_survey):
    _, images = blinded_survey
    respondent = make_respondent()
    client = login_respondent(Client(), respondent)
    image = images[0]
    attention = next(c for c in presented_candidates(present_image(respondent, image))
                     if c.kind == "noisy")

    _, attention_bytes, _ = fetch(client, f"/survey/c/{attention.token}.png")
    _, reference_bytes, _ = fetch(client, f"/survey/n/{image.public_token}.png")

    assert attention_bytes != reference_bytes
    as_seen = [np.asarray(Image.open(io.BytesIO(b)), dtype=int)
               for b in (attention_bytes, reference_bytes)]
    # ...and yet they show the same picture (random rounding: at most one grey level)
    assert np.abs(as_seen[0] - as_seen[1]).max() <= 1


def test_order_tokens_and_sizes_do_not_follow_k_across_respondents(blinded_survey):
    _, images = blinded_survey
    ks, positions, token_ranks, sizes = [], [], [], []
    for _ in range(12):
        respondent = make_respondent()
        client = login_respondent(Client(), respondent)
        for image in images:
            shown = [c for c in presented_candidates(present_image(respondent, image))
                     if c.k is not None]
            ranks = {token: rank for rank, token in enumerate(sorted(c.token for c in shown))}
            for position, candidate in enumerate(shown):
                ks.append(candidate.k)
                positions.append(position)
                token_ranks.append(ranks[candidate.token])
            if image is images[0]:
                sizes += [len(fetch(client, f"/survey/c/{c.token}.png")[1]) for c in shown]
    for name, values in (("position", positions), ("token order", token_ranks)):
        rho = spearmanr(ks, values).statistic
        assert abs(rho) < MAX_RHO, f"{name} follows k: rho = {rho:.3f}"
    assert len(set(sizes)) == 1


def test_tokens_are_per_respondent_and_work_for_nobody_else(blinded_survey):
    _, images = blinded_survey
    alice, bob = make_respondent(), make_respondent()
    alice_tokens = {c.token for c in presented_candidates(present_image(alice, images[0]))}
    bob_shown = presented_candidates(present_image(bob, images[0]))

    assert not alice_tokens & {c.token for c in bob_shown}
    bobs = login_respondent(Client(), bob)
    alices_token = next(iter(alice_tokens))
    assert bobs.get(f"/survey/c/{alices_token}.png").status_code == 404
    assert Client().get(f"/survey/c/{alices_token}.png").status_code == 404
    # API clients send their token header instead of the cookie
    api = Client()
    header = {"HTTP_X_SURVEY_RESPONDENT": respondent_token(bob)}
    assert api.get(f"/survey/c/{bob_shown[0].token}.png", **header).status_code == 200
    assert api.get(f"/survey/c/{alices_token}.png", **header).status_code == 404


def test_ground_truth_and_decompositions_have_no_url(blinded_survey):
    _, images = blinded_survey
    image = images[0]
    client = login_respondent(Client(), make_respondent())
    private = [image.clean_file.name, image.decomposition_file.name, image.noisy_file.name]
    for name in private:
        assert image.public_token not in name, "stored under a name a respondent can derive"
    guesses = [f"/media/{name}" for name in private] + [
        f"/media/survey/images/{image.public_token}_clean.npy",
        f"/media/survey/decompositions/{image.public_token}_decomposition.npz",
        f"/survey/n/{image.public_token}_clean.npy",
        f"/survey/c/{image.public_token}.png",
    ]
    for url in guesses:
        assert client.get(url).status_code == 404, url


def test_old_compressed_candidates_are_reblinded(blinded_survey):
    _, images = blinded_survey
    image = images[0]
    # an image as made before issue 16: compressed PNGs named after the public token
    for candidate in image.candidates.all():
        pixels = np.linspace(0, 1, image.height * image.width).reshape(image.height,
                                                                       image.width)
        png = encode_png(pixels ** (candidate.k or 1), low=0.0, high=1.0)
        candidate.png.save(f"{image.public_token}/{candidate.token}.png", ContentFile(png))
    image.reference_png = ""
    image.save()
    assert len({c.png.size for c in image.candidates.all()}) > 1

    assert reblind_image(image) == image.candidates.count()

    image.refresh_from_db()
    sizes = {c.png.size for c in image.candidates.all()} | {image.reference_png.size}
    assert len(sizes) == 1
    assert not any(image.public_token in c.png.name for c in image.candidates.all())
    assert reblind_image(image) == 0, "idempotent"


def test_every_picture_on_the_question_page_loads_for_its_respondent_only(blinded_survey):
    _, images = blinded_survey
    respondent = make_respondent()
    client = login_respondent(Client(), respondent)
    page = client.get(f"/survey/q/{images[0].id}/").content.decode()
    sources = re.findall(r'<img[^>]+src="(/survey/[^"]+\.png)"', page)

    assert len(sources) >= 3
    stranger = login_respondent(Client(), make_respondent())
    for url in sources:
        assert client.get(url).status_code == 200, url
        if url.startswith("/survey/c/"):
            assert stranger.get(url).status_code == 404, url
