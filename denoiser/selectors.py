"""Reading side of the denoise app: who may see which job, and job listings.

A job with an owner is visible to that owner (and staff) only. A job uploaded anonymously
has no owner and is reachable by anyone holding its link: the random UUID in it is the
secret. Invisible and non-existent jobs look the same (404) so ids cannot be probed.
"""
from __future__ import annotations

import heapq
import os
import statistics
import uuid
from collections import defaultdict, deque
from datetime import timedelta

from django.conf import settings
from django.db.models import Max, Q, QuerySet
from django.utils import timezone

from . import benchmark_figures
from .models import DenoiseJob, JobStatus

SESSION_KEY = "denoise_job_ids"
SESSION_LIMIT = 50


def can_view(job: DenoiseJob, user) -> bool:
    if job.owner_id is None:
        return True
    if not getattr(user, "is_authenticated", False):
        return False
    return job.owner_id == user.pk or bool(getattr(user, "is_staff", False))


def visible_job(job_id, user) -> DenoiseJob | None:
    """The job with this id if ``user`` may see it, else None."""
    try:
        key = job_id if isinstance(job_id, uuid.UUID) else uuid.UUID(str(job_id))
    except ValueError:
        return None
    job = DenoiseJob.objects.select_related("owner").filter(pk=key).first()
    if job is None or not can_view(job, user):
        return None
    return job


def jobs_of_user(user) -> QuerySet[DenoiseJob]:
    """A logged-in user's jobs, newest first (empty for anonymous users)."""
    if not getattr(user, "is_authenticated", False):
        return DenoiseJob.objects.none()
    return DenoiseJob.objects.filter(owner=user).order_by("-created_at")


def jobs_of_session(session) -> QuerySet[DenoiseJob]:
    """Anonymous jobs uploaded from this browser session, newest first."""
    ids = list(session.get(SESSION_KEY, [])) if session is not None else []
    return DenoiseJob.objects.filter(pk__in=ids, owner__isnull=True).order_by("-created_at")


def remember_in_session(session, job: DenoiseJob) -> None:
    ids = [str(job.pk)] + [i for i in session.get(SESSION_KEY, []) if i != str(job.pk)]
    session[SESSION_KEY] = ids[:SESSION_LIMIT]


# ---- Fair queueing: who a client is, the order jobs are dispatched in, queue estimates ----

#: Seconds per pixel the worker spends on a job besides the method itself (reading, result
#: files, previews): it is most of a "paper" job, whose method takes a small part of it.
WORKER_SECONDS_PER_PIXEL = 1.0e-6
#: Seconds per pixel of a method's whole job when neither a recent job nor the benchmark
#: figures say (a guess on the slow side, so a first estimate errs long).
DEFAULT_SECONDS_PER_PIXEL = {"best": 2.0e-5, "paper": 2.0e-6}
#: How many recent finished jobs of a method the per-pixel time is measured on.
RECENT_JOBS_MEASURED = 20
#: Waiting jobs looked at when ordering the queue (the oldest first); more is a flood
#: that the per-client limit refuses anyway.
QUEUE_SCAN_LIMIT = 5000


def client_identity(request) -> str:
    """Who is asking, for fair queueing: the user, else the browser session, else the IP.

    Only a session the client already holds counts (a client without cookies would get
    a new one each request and so escape its limit); such clients are told apart by
    address (``REMOTE_ADDR``: behind a proxy, let the proxy set it).

    Examples
    --------
    >>> from types import SimpleNamespace as N
    >>> client_identity(N(user=N(is_authenticated=True, pk=7), session=None, META={}))
    'user:7'
    >>> anonymous = N(is_authenticated=False)
    >>> client_identity(N(user=anonymous, session=N(session_key="abc"), META={}))
    'session:abc'
    >>> client_identity(N(user=anonymous, session=N(session_key=None),
    ...                   META={"REMOTE_ADDR": "10.0.0.9"}))
    'ip:10.0.0.9'
    """
    user = getattr(request, "user", None)
    if getattr(user, "is_authenticated", False):
        return f"user:{user.pk}"
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    if session_key:
        return f"session:{session_key}"
    return f"ip:{request.META.get('REMOTE_ADDR') or 'unknown'}"[:128]


def owner_identity(owner) -> str:
    """The client key of a job submitted without a request (scripts, tests)."""
    if getattr(owner, "is_authenticated", False):
        return f"user:{owner.pk}"
    return "anonymous"


def dispatch_slots() -> int:
    """How many denoise jobs may be at the workers (sent or running) at once.

    ``REUCID_DENOISE_SLOTS``; 0 means ``CELERY_WORKER_CONCURRENCY``, else this machine's
    core count (a worker's default concurrency). More slots than worker processes keep
    workers busy but let jobs wait in the broker first come, first served; fewer leave
    workers idle.
    """
    configured = int(getattr(settings, "REUCID_DENOISE_SLOTS", 0) or 0)
    if configured > 0:
        return configured
    concurrency = getattr(settings, "CELERY_WORKER_CONCURRENCY", None)
    return max(int(concurrency or os.cpu_count() or 1), 1)


def busy_jobs(now=None) -> QuerySet[DenoiseJob]:
    """Jobs holding a worker slot: running, or sent to the queue and not yet started.

    A job sent more than ``REUCID_JOB_STALE_AFTER_SECONDS`` ago and still not started
    no longer holds its slot: its message is probably lost (the stale-job recovery
    requeues it later), and a lost message must not keep a worker idle until then.
    """
    now = now or timezone.now()
    lost_after = timedelta(seconds=int(getattr(settings, "REUCID_JOB_STALE_AFTER_SECONDS", 900)))
    return DenoiseJob.objects.filter(
        Q(status=JobStatus.RUNNING)
        | Q(status=JobStatus.QUEUED, dispatched_at__gte=now - lost_after)
    )


def waiting_jobs() -> QuerySet[DenoiseJob]:
    """Queued jobs not yet sent to a worker, oldest first."""
    return DenoiseJob.objects.filter(
        status=JobStatus.QUEUED, dispatched_at__isnull=True
    ).order_by("created_at", "pk")


def fair_order(waiting, active: dict[str, int], last_served: dict | None = None) -> list:
    """The order in which waiting jobs are dispatched: fair between clients.

    Each next job is the oldest waiting job of the client with the fewest jobs at the
    workers (``active`` plus those already ordered before it); on a tie, of the client
    served longest ago (never served first), then of the one whose oldest waiting job is
    older. So a client with many jobs running does not hold back one with none, and
    clients take turns when all have jobs waiting.

    Parameters
    ----------
    waiting : iterable
        Waiting jobs, oldest first; each has ``client_key`` (objects or dicts).
    active : dict of str to int
        Jobs each client already has at the workers.
    last_served : dict of str to datetime, optional
        When each client last had a job dispatched.

    Returns
    -------
    list
        The waiting jobs, reordered.

    Examples
    --------
    >>> jobs = [{"id": n, "client_key": c} for n, c in enumerate("AAAAB")]
    >>> [job["id"] for job in fair_order(jobs, {"A": 2})]
    [4, 0, 1, 2, 3]
    >>> [job["id"] for job in fair_order(jobs + [{"id": 5, "client_key": "B"}], {})]
    [0, 4, 1, 5, 2, 3]
    >>> from datetime import datetime
    >>> [job["id"] for job in fair_order(jobs, {}, {"A": datetime(2026, 1, 1)})]
    [4, 0, 1, 2, 3]
    """
    def key_of(job) -> str:
        return job["client_key"] if isinstance(job, dict) else job.client_key

    served = last_served or {}

    def turn(client: str) -> tuple:
        # never served < served earlier < served later; turns given here come last
        when = served.get(client)
        return (-1, 0.0) if when is None else (0, when.timestamp())

    queues: dict[str, deque] = defaultdict(deque)
    for position, job in enumerate(waiting):
        queues[key_of(job)].append((position, job))
    heap = [(int(active.get(client, 0)), turn(client), queue[0][0], client)
            for client, queue in queues.items()]
    heapq.heapify(heap)
    ordered = []
    while heap:
        count, _, _, client = heapq.heappop(heap)
        queue = queues[client]
        ordered.append(queue.popleft()[1])
        if queue:
            heapq.heappush(heap, (count + 1, (1, float(len(ordered))), queue[0][0], client))
    return ordered


def last_served(clients) -> dict:
    """When each of these clients last had a job dispatched (clients never served: absent)."""
    rows = (DenoiseJob.objects.filter(client_key__in=list(clients), dispatched_at__isnull=False)
            .values("client_key").annotate(last=Max("dispatched_at")))
    return {row["client_key"]: row["last"] for row in rows}


def default_seconds_per_pixel(method: str) -> float:
    """A job's seconds per pixel before any has finished: the method's measured time
    (benchmark figures, :mod:`.benchmark_figures`) plus the worker's own work, else
    :data:`DEFAULT_SECONDS_PER_PIXEL`."""
    measured = benchmark_figures.seconds_per_megapixel(method)
    if measured is not None:
        return measured / 1e6 + WORKER_SECONDS_PER_PIXEL
    return DEFAULT_SECONDS_PER_PIXEL.get(method, DEFAULT_SECONDS_PER_PIXEL["best"])


def seconds_per_pixel(method: str, *, recent: int = RECENT_JOBS_MEASURED) -> tuple[float, int]:
    """Median worker seconds per pixel of the method's recent finished jobs, and their count.

    Falls back to :func:`default_seconds_per_pixel` (count 0) when none has finished.
    """
    rows = (
        DenoiseJob.objects.filter(status=JobStatus.DONE, method=method,
                                  elapsed_seconds__gt=0)
        .order_by("-finished_at")
        .values_list("elapsed_seconds", "height", "width")[:recent]
    )
    rates = [elapsed / (height * width) for elapsed, height, width in rows if height * width]
    if not rates:
        return default_seconds_per_pixel(method), 0
    return statistics.median(rates), len(rates)


def duration_text(seconds: float) -> str:
    """A rough duration in words: seconds below 90 s, minutes below 90 min, else hours.

    Examples
    --------
    >>> duration_text(0.4), duration_text(75), duration_text(600), duration_text(7200)
    ('0 s', '75 s', '10 min', '2.0 h')
    """
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class QueueEstimate:
    """Where a queued or running job stands, for the job page and the API.

    Attributes
    ----------
    position : int or None
        1 = the next job to start; None once the job runs (or is finished).
    jobs_ahead : int
        Jobs that start before it (sent to the workers, or dispatched earlier).
    wait_seconds : float or None
        Estimated seconds until it starts (0 once running).
    total_seconds : float
        Estimated seconds until its result: waiting plus its own run (for a running
        job: what is left of its run).
    seconds_per_pixel : float
        The per-pixel time the estimates use for this job's method.
    measured_jobs : int
        How many recent finished jobs that time was measured on (0: the default).
    """

    def __init__(self, *, position, jobs_ahead, wait_seconds, total_seconds,
                 seconds_per_pixel, measured_jobs):
        self.position = position
        self.jobs_ahead = jobs_ahead
        self.wait_seconds = wait_seconds
        self.total_seconds = total_seconds
        self.seconds_per_pixel = seconds_per_pixel
        self.measured_jobs = measured_jobs

    @property
    def summary(self) -> str:
        """One line for the job page (job.js writes the same from the API's fields).

        Examples
        --------
        >>> print(QueueEstimate(position=3, jobs_ahead=2, wait_seconds=50.0,
        ...                     total_seconds=130.0, seconds_per_pixel=1e-6,
        ...                     measured_jobs=4).summary)  # doctest: +NORMALIZE_WHITESPACE
        Position 3 in the queue (2 jobs ahead): about 50 s until it starts,
        2 min until the result.
        >>> QueueEstimate(position=None, jobs_ahead=0, wait_seconds=0.0, total_seconds=4.2,
        ...               seconds_per_pixel=1e-6, measured_jobs=0).summary
        'About 4 s left.'
        """
        if self.position is None:
            return f"About {duration_text(self.total_seconds)} left."
        ahead = f"{self.jobs_ahead} job{'' if self.jobs_ahead == 1 else 's'} ahead"
        return (f"Position {self.position} in the queue ({ahead}): about "
                f"{duration_text(self.wait_seconds)} until it starts, "
                f"{duration_text(self.total_seconds)} until the result.")

    @property
    def basis(self) -> str:
        """How the time was estimated, in words."""
        if self.measured_jobs:
            return (f"measured on the last {self.measured_jobs} finished job"
                    f"{'' if self.measured_jobs == 1 else 's'} of this method")
        return "a typical time per pixel (no recent job of this method to measure)"


class QueueSnapshot:
    """The denoise queue read once: answers :meth:`estimate` for any number of jobs.

    Jobs sent to the workers start first, in the order they were sent (the broker is
    first in, first out); then the waiting jobs in :func:`fair_order`. Times: each job
    ahead costs its pixels times its method's per-pixel time, a running one what is left
    of that, shared among :func:`dispatch_slots` workers.
    """

    def __init__(self, *, now=None, slots: int | None = None):
        self.now = now or timezone.now()
        self.slots = max(int(slots or dispatch_slots()), 1)
        self._rates: dict[str, tuple[float, int]] = {}
        fields = ("pk", "client_key", "method", "height", "width", "started_at",
                  "status", "dispatched_at")
        # every job sent counts as ahead here, even one whose message may be lost
        busy = list(DenoiseJob.objects.filter(
            Q(status=JobStatus.RUNNING)
            | Q(status=JobStatus.QUEUED, dispatched_at__isnull=False)
        ).only(*fields).order_by("dispatched_at", "created_at"))
        self.running = [job for job in busy if job.status == JobStatus.RUNNING]
        sent = [job for job in busy if job.status == JobStatus.QUEUED]
        active: dict[str, int] = {}
        for job in busy:
            active[job.client_key] = active.get(job.client_key, 0) + 1
        waiting = list(waiting_jobs().only(*fields)[:QUEUE_SCAN_LIMIT])
        served = last_served({job.client_key for job in waiting})
        self.order = sent + fair_order(waiting, active, served)
        self._index = {job.pk: index for index, job in enumerate(self.order)}

    def rate(self, method: str) -> tuple[float, int]:
        """:func:`seconds_per_pixel` of a method, read once per snapshot."""
        if method not in self._rates:
            self._rates[method] = seconds_per_pixel(method)
        return self._rates[method]

    def expected_run(self, job) -> float:
        """Estimated seconds a job takes on a worker once started."""
        return self.rate(job.method)[0] * job.height * job.width

    def remaining_run(self, job) -> float:
        """Estimated seconds a running job still needs."""
        elapsed = (self.now - job.started_at).total_seconds() if job.started_at else 0.0
        return max(self.expected_run(job) - elapsed, 0.0)

    def estimate(self, job) -> QueueEstimate | None:
        """Position and times of a queued or running job; None for a finished one."""
        rate, measured = self.rate(job.method)
        if job.status == JobStatus.RUNNING:
            return QueueEstimate(position=None, jobs_ahead=0, wait_seconds=0.0,
                                 total_seconds=self.remaining_run(job),
                                 seconds_per_pixel=rate, measured_jobs=measured)
        if job.status != JobStatus.QUEUED:
            return None
        index = self._index.get(job.pk)
        if index is None:  # beyond the scan limit, or queued since the snapshot
            index = len(self.order)
        ahead = self.order[:index]
        work = sum(self.remaining_run(other) for other in self.running)
        work += sum(self.expected_run(other) for other in ahead)
        # with a worker free it starts now; else once the work ahead of it (what the
        # running jobs have left and the jobs before it) is done, shared by the workers
        wait = work / self.slots if len(self.running) + len(ahead) >= self.slots else 0.0
        return QueueEstimate(position=index + 1, jobs_ahead=index, wait_seconds=wait,
                             total_seconds=wait + rate * job.height * job.width,
                             seconds_per_pixel=rate, measured_jobs=measured)


def queue_estimate(job: DenoiseJob) -> QueueEstimate | None:
    """Position in the queue and estimated times of one job (None once finished)."""
    if job.status not in (JobStatus.QUEUED, JobStatus.RUNNING):
        return None
    return QueueSnapshot().estimate(job)
