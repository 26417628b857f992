"""Fair queueing on real services: a flood of one client's jobs does not delay another's.

The web side (this process) dispatches on submission, the worker process dispatches after
each job it ends (``denoiser.run_denoise_job``); both must agree for the newcomer's job to
get the next free slot. Runs in the second pass of scripts/test.sh.
"""
from __future__ import annotations

import pytest

from denoiser import selectors, services
from denoiser.models import DenoiseJob, JobStatus
from reucid_site.celery import app
from tests.services.conftest import wait_for
from tests.services.test_jobs_through_broker import simulated_upload

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

TIMEOUT_S = 300


def test_newcomer_is_dispatched_before_the_flood_waiting_ahead_of_it(through_broker, settings):
    settings.REUCID_MAX_JOBS_PER_CLIENT = 0
    slots = selectors.dispatch_slots()  # the worker computes the same from the same environment

    def submit(client: str, seed: int) -> DenoiseJob:
        return services.submit_job(uploaded=simulated_upload(seed=seed), client=client,
                                   method="paper", classifier="mp")

    # the worker takes nothing until both clients have submitted (else a quick worker could
    # end the flood's jobs before the newcomer's upload arrives)
    node = through_broker.by_queue["denoise"].node_name
    app.control.cancel_consumer("denoise", destination=[node], reply=True, timeout=10)
    try:
        flood = [submit("ip:10.0.0.1", seed) for seed in range(slots + 4)]
        newcomer = submit("ip:10.0.0.2", 99)
        assert DenoiseJob.objects.get(pk=newcomer.pk).dispatched_at is None  # no free slot
    finally:
        app.control.add_consumer("denoise", destination=[node], reply=True, timeout=10)
    everyone = flood + [newcomer]

    def all_finished() -> bool:
        return DenoiseJob.objects.filter(pk__in=[job.pk for job in everyone],
                                         status__in=[JobStatus.DONE, JobStatus.FAILED]
                                         ).count() == len(everyone)

    wait_for(all_finished, timeout_s=TIMEOUT_S, workers=through_broker,
             what="the flood and the newcomer's job")
    jobs = {job.pk: job for job in DenoiseJob.objects.filter(pk__in=[j.pk for j in everyone])}
    assert all(job.status == JobStatus.DONE for job in jobs.values()), \
        [job.error for job in jobs.values() if job.error]
    mine = jobs[newcomer.pk]
    later_flood = [jobs[job.pk] for job in flood[slots:]]
    # dispatched by the worker when the first flood job ended, before the flood's older
    # waiting jobs, and finished before them (one worker process: one job at a time)
    assert all(mine.dispatched_at < job.dispatched_at for job in later_flood)
    assert all(mine.finished_at < job.finished_at for job in later_flood)
