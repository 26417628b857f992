"""100 respondents voting at once: no lost vote, no double vote, exact counts.

    python -m loadtests.votes --respondents 100 --images 3

Starts its own stack (PostgreSQL database ``reucid_load_votes``, Redis DB 14, gunicorn on a
free loopback port), makes a survey of small simulated images with the real services, then
runs every respondent in its own thread through the real pages: consent, profile, then one
vote per image. Each respondent also fires two votes for its first image *at the same
moment* (a double click, two tabs) and finally changes its mind on that image. Afterwards
the database must hold exactly one answer per (respondent, image), each the last choice
made, and the per-image counts must equal the number of respondents.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from . import harness

SETUP_SURVEY = """
import json
import numpy as np
from survey.models import Survey, SurveyImage
from survey.services.images import add_survey_image, generate_candidates

survey = Survey.objects.create(name="Load test", slug="load-test", k_max={k_max},
                               attention_check_every=0)
ids = []
for index in range({images}):
    rng = np.random.default_rng(index)
    y, x = np.mgrid[0:48, 0:48]
    clean = 1.0 + np.cos(2 * np.pi * y / (7 + index)) * np.cos(2 * np.pi * x / 7)
    image = add_survey_image(survey=survey, noisy=rng.poisson(20 * clean).astype(np.float32),
                             title=f"Load {{index}}", source=SurveyImage.Source.SIMULATED,
                             make_candidates=False)
    generate_candidates(image.pk)
    ids.append(image.pk)
print(json.dumps(ids))
"""

CHECK_VOTES = """
import json
from django.db.models import Count
from survey.models import Response, ShownCandidate
# tokens are per respondent: the answer's candidate as that respondent saw it
shown = {(s.presentation.respondent_id, s.candidate_id): s.token
         for s in ShownCandidate.objects.select_related("presentation")}
rows = [
    {"respondent": str(r.respondent.uid), "image": r.image_id,
     "token": shown.get((r.respondent_id, r.candidate_id), r.candidate.token),
     "revisions": r.revisions}
    for r in Response.objects.select_related("respondent", "candidate")
]
per_image = dict(Response.objects.values_list("image").annotate(n=Count("id")))
print(json.dumps({"rows": rows, "per_image": {str(k): v for k, v in per_image.items()}}))
"""

IMAGE_ID = re.compile(r'id="survey-question" data-image-id="(\d+)"')
TOKENS = re.compile(r'data-candidate="([^"]+)"')
UID_COOKIE = "survey_respondent"


@dataclass
class RespondentLog:
    """What one simulated respondent did and expects the database to hold."""

    index: int
    uid: str = ""
    final_choice: dict[int, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def _question(page: bytes) -> tuple[int, list[str]] | None:
    html = page.decode("utf-8", "replace")
    found = IMAGE_ID.search(html)
    if not found:
        return None
    return int(found.group(1)), TOKENS.findall(html)


def run_respondent(base_url: str, index: int, recorder: harness.Recorder,
                   start: threading.Barrier) -> RespondentLog:
    log = RespondentLog(index)
    visitor = harness.Browserless(base_url, recorder)
    try:
        start.wait(timeout=120)
        status, _, _ = visitor.get("/survey/", label="GET consent")
        status, _, _ = visitor.post_form("/survey/", {"consent": "on"}, label="POST consent")
        expertise = "expert" if index % 2 else "non_expert"
        status, page, _ = visitor.post_form("/survey/profile/", {"expertise": expertise},
                                            label="POST profile")
        signed = visitor.cookie(UID_COOKIE) or ""
        log.uid = signed.split(":", 1)[0].strip('"')
        question = _question(page)
        first: tuple[int, list[str]] | None = question
        race_done = False
        for _ in range(50):  # bounded: a survey of a few images needs a few rounds
            if question is None:
                break
            image_id, tokens = question
            if not race_done:
                # Two votes for the same image at the same moment (double click, two tabs).
                picks = [tokens[0], tokens[-1]]
                with ThreadPoolExecutor(2) as pair:
                    answers = list(pair.map(
                        lambda token, image_id=image_id: visitor.post_form(
                            f"/survey/q/{image_id}/", {"candidate": token, "time_taken_ms": "900"},
                            label="POST vote (race)"),
                        picks))
                bad = [a[0] for a in answers if a[0] >= 400]
                if bad:
                    log.errors.append(f"racing votes answered {bad}")
                race_done = True
                status, page, _ = visitor.get("/survey/next/", label="GET next")
            else:
                choice = tokens[(index + image_id) % len(tokens)]
                status, page, _ = visitor.post_form(
                    f"/survey/q/{image_id}/", {"candidate": choice, "time_taken_ms": "1200"},
                    label="POST vote")
                if status >= 400:
                    log.errors.append(f"vote on image {image_id} answered {status}")
                log.final_choice[image_id] = choice
            question = _question(page)
        if first is not None:
            # Change of mind on the first image: this must be the answer that stays.
            image_id, tokens = first
            status, page, _ = visitor.get(f"/survey/q/{image_id}/", label="GET question")
            revisit = _question(page)
            if revisit is None:
                log.errors.append(f"could not reopen image {image_id} (HTTP {status})")
            else:
                final = revisit[1][len(revisit[1]) // 2]
                status, _, _ = visitor.post_form(
                    f"/survey/q/{image_id}/", {"candidate": final, "time_taken_ms": "700"},
                    label="POST vote (change)")
                if status >= 400:
                    log.errors.append(f"changed vote answered {status}")
                log.final_choice[image_id] = final
    except Exception as error:  # noqa: BLE001 - one broken client must not hide the others
        log.errors.append(f"{type(error).__name__}: {error}")
    return log


def verify(logs: list[RespondentLog], database: dict, image_ids: list[int]) -> dict:
    """Compare what respondents did with what the database holds."""
    by_key: dict[tuple[str, int], list[dict]] = {}
    for row in database["rows"]:
        by_key.setdefault((row["respondent"], row["image"]), []).append(row)
    lost, wrong, doubled = [], [], [k for k, rows in by_key.items() if len(rows) > 1]
    for log in logs:
        for image_id, token in log.final_choice.items():
            rows = by_key.get((log.uid, image_id), [])
            if not rows:
                lost.append((log.index, image_id))
            elif rows[0]["token"] != token:
                wrong.append((log.index, image_id))
    expected_per_image = {str(i): sum(1 for log in logs if i in log.final_choice)
                          for i in image_ids}
    return {
        "answers_in_database": len(database["rows"]),
        "answers_expected": sum(len(log.final_choice) for log in logs),
        "lost_votes": len(lost),
        "double_votes": len(doubled),
        "wrong_final_choice": len(wrong),
        "per_image_counts_exact": database["per_image"] == expected_per_image,
        "per_image": database["per_image"],
        "client_errors": [e for log in logs for e in log.errors][:20],
    }


def run(respondents: int, images: int, *, workers: int = 3, threads: int = 8,
        database: str = "reucid_load_votes") -> dict:
    with harness.stack(database) as site:
        image_ids = json.loads(site.python(SETUP_SURVEY.format(k_max=6, images=images))
                               .strip().splitlines()[-1])
        base_url = site.start_web(workers=workers, threads=threads)
        harness.warm_up(base_url, ["/survey/", "/"], rounds=2 * workers * threads)
        served_before = harness.requests_served(site)
        recorder = harness.Recorder()
        start = threading.Barrier(respondents)
        started = time.perf_counter()
        with ThreadPoolExecutor(respondents) as pool:
            logs = list(pool.map(lambda i: run_respondent(base_url, i, recorder, start),
                                 range(respondents)))
        wall = time.perf_counter() - started
        http_requests = harness.requests_served(site) - served_before
        database_state = json.loads(site.python(CHECK_VOTES).strip().splitlines()[-1])
    votes = [t for t in recorder.timings if t.label.startswith("POST vote")]
    return {
        "machine": harness.machine_summary(),
        "respondents": respondents,
        "images": images,
        "gunicorn": f"{workers} workers x {threads} threads",
        # A client action follows redirects as a browser does (a vote is POST, then GET of
        # the next question), so the server answers more HTTP requests than actions.
        "http_requests_served": http_requests,
        "http_requests_per_s": round(http_requests / wall, 1),
        "all_requests": harness.summarise(recorder.timings, wall),
        "vote_requests": harness.summarise(votes, wall),
        "verification": verify(logs, database_state, image_ids),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--respondents", type=int, default=100)
    parser.add_argument("--images", type=int, default=3)
    parser.add_argument("--workers", type=int, default=3, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=8, help="threads per gunicorn worker")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    reason = harness.services_missing()
    if reason:
        print(f"loadtests.votes: cannot run: {reason}", file=sys.stderr)
        return 2
    report = run(args.respondents, args.images, workers=args.workers, threads=args.threads)
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w") as handle:
            handle.write(text + "\n")
    check = report["verification"]
    ok = (check["lost_votes"] == 0 and check["double_votes"] == 0
          and check["wrong_final_choice"] == 0 and check["per_image_counts_exact"]
          and check["answers_in_database"] == check["answers_expected"]
          and not check["client_errors"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
