"""Let a simulated crowd answer the running survey through its HTTP API (issue 19)."""
from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from survey.services.crowd import ADVERSARIES, CrowdError, plan_crowd, run_crowd


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise ValueError("a fraction between 0 and 1")
    return value


class Command(BaseCommand):
    help = ("Simulated respondents join the running survey and vote through the public API "
            "(consent, profile, next question, candidates, vote), each picking the candidate "
            "a ground-truth fidelity-aware score ranks highest, with noise. Needs survey "
            "images with a ground truth. See docs/survey.md.")

    def add_arguments(self, parser):
        parser.add_argument("--respondents", type=int, default=30)
        parser.add_argument("--experts", type=_fraction, default=0.3,
                            help="Fraction of experts (small noise); the honest rest are "
                            "non-experts (more noise, a bias toward smoother candidates).")
        parser.add_argument("--adversarial", type=_fraction, default=0.0,
                            help="Fraction of adversarial respondents.")
        parser.add_argument("--adversary", choices=ADVERSARIES, default="largest",
                            help="What adversaries pick: the largest k shown, or at random.")
        parser.add_argument("--attention-failures", type=_fraction, default=0.0,
                            help="Fraction of respondents who pick the raw noisy image when "
                            "an attention check shows it.")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--images", type=int, nargs="+", metavar="ID",
                            help="Answer only these survey images (default: every open "
                            "image, in the order api/next/ gives).")
        parser.add_argument("--base-url", help="A running site, e.g. http://127.0.0.1:8000 "
                            "(default: this process's site through Django's test client).")
        parser.add_argument("--concurrency", type=int, default=1,
                            help="Respondents answering at once (threads).")
        parser.add_argument("--repeat", type=_fraction, default=0.0,
                            help="Fraction of votes sent twice (double clicks).")
        parser.add_argument("--max-wait", type=float, default=60.0,
                            help="Seconds a respondent waits in all when the join throttle "
                            "answers 429 (it honours Retry-After) before giving up.")
        parser.add_argument("--shared-address", action="store_true",
                            help="In-process: all respondents from one client address, so "
                            "the join throttle limits the crowd as a whole.")
        parser.add_argument("--first-index", type=int, default=0,
                            help="Index of the first respondent (a second crowd with other "
                            "indices draws other choices).")

    def handle(self, *args, **options):
        if options["respondents"] < 1:
            raise CommandError("--respondents must be at least 1")
        if options["concurrency"] < 1:
            raise CommandError("--concurrency must be at least 1")
        try:
            crowd = plan_crowd(options["respondents"], experts=options["experts"],
                               adversarial=options["adversarial"],
                               adversary=options["adversary"],
                               attention_failures=options["attention_failures"],
                               seed=options["seed"], first_index=options["first_index"])
            report = run_crowd(crowd, seed=options["seed"], image_ids=options["images"],
                               base_url=options["base_url"],
                               concurrency=options["concurrency"],
                               repeat_fraction=options["repeat"],
                               max_wait_s=options["max_wait"],
                               shared_address=options["shared_address"])
        except CrowdError as error:
            raise CommandError(str(error)) from error
        for line in report.lines():
            self.stdout.write(line)
        for image_id, truth in sorted(report.truths.items()):
            votes = [v.k for v in report.votes if v.image_id == image_id and v.status == 201
                     and v.k is not None]
            mean = f"{sum(votes) / len(votes):.2f}" if votes else "-"
            self.stdout.write(f"  image {image_id}: ground-truth best k {truth.best_k}, "
                              f"mean chosen k {mean} ({len(votes)} votes)")
