"""Pages of the denoise app: upload, job progress/result, pictures, retry, delete."""
from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from reucid_site.files import send_file

from . import input_record, job_files, methods, residuals, selectors, services
from .classifier_choice import ACTIVE, NOISE_EDGE, ClassifierUnavailable, active_model
from .forms import DenoiseForm
from .models import JobStatus
from .rendering import scree_svg
from .serializers import JobSerializer
from .uploads import ACCEPTED_FORMATS, UploadRejected, max_image_side, max_upload_bytes


def _page_context(request: HttpRequest, form: DenoiseForm) -> dict:
    try:
        _, active_version = active_model()
        model_error = ""
    except ClassifierUnavailable as error:
        active_version, model_error = "", str(error)
    try:
        # the default method's own kind of model; without one it runs the noise-edge rule
        _, group_version = active_model("group")
    except ClassifierUnavailable:
        group_version = ""
    best_default = methods.default_classifier(methods.BEST) if group_version else NOISE_EDGE
    if request.user.is_authenticated:
        past_jobs = selectors.jobs_of_user(request.user)[:50]
    else:
        past_jobs = selectors.jobs_of_session(request.session)[:50]
    chosen = form["method"].value() if form.is_bound else None
    chosen = chosen if chosen in methods.METHODS else methods.DEFAULT_METHOD
    return {
        "form": form,
        "methods": [
            {
                "value": name,
                "label": methods.METHOD_LABELS[name],
                "trade_off": methods.METHOD_TRADE_OFFS[name],
                "checked": name == chosen,
            }
            for name in methods.METHODS
        ],
        "method_preset": methods.DEFAULT_METHOD,
        "default_classifier": best_default if chosen == methods.BEST
        else methods.default_classifier(chosen),
        "best_default_classifier": best_default,
        "group_version": group_version,
        "best_max_patch_size": methods.BEST_MAX_PATCH_SIZE,
        "best_auto_patch_size": methods.MAX_GROUPED_PATCH_SIZE,
        "protect_defects_label": methods.PROTECT_DEFECTS_LABEL,
        "protect_defects_help": methods.PROTECT_DEFECTS_HELP,
        "best_max_megapixels": methods.best_max_pixels() / 1e6,
        "active_version": active_version,
        "model_error": model_error,
        "past_jobs": past_jobs,
        "accepted_extensions": ",".join(sorted(ACCEPTED_FORMATS)),
        "accepted_formats": sorted(set(ACCEPTED_FORMATS.values())),
        "max_upload_bytes": max_upload_bytes(),
        "max_upload_mb": max_upload_bytes() // (1024 * 1024),
        "max_image_side": max_image_side(),
    }


@require_http_methods(["GET", "POST"])
def denoise_page(request: HttpRequest) -> HttpResponse:
    """The upload page; the JavaScript posts to the API, this POST is the no-JS path."""
    if request.method == "GET":
        return render(request, "denoiser/denoise.html", _page_context(request, DenoiseForm()))
    form = DenoiseForm(request.POST, request.FILES)
    status = 400
    if form.is_valid():
        try:
            job = services.submit_job(
                uploaded=form.cleaned_data["file"],
                owner=request.user,
                classifier=form.classifier_choice(),
                method=form.chosen_method(),
                protect_defects=form.cleaned_data.get("protect_defects", False),
                patch_size=form.cleaned_data.get("patch_size"),
                seed=form.cleaned_data["seed"],
                n_stacks=form.cleaned_data.get("n_stacks"),
                frame=form.cleaned_data.get("frame"),
                client=selectors.client_identity(request),
            )
        except UploadRejected as rejection:
            form.add_error(None, rejection.message)
            status = rejection.status
        else:
            if job.owner_id is None:
                selectors.remember_in_session(request.session, job)
            return redirect("denoiser:job", job_id=job.pk)
    return render(request, "denoiser/denoise.html", _page_context(request, form), status=status)


def _job_or_404(request: HttpRequest, job_id):
    job = selectors.visible_job(job_id, request.user)
    if job is None:
        raise Http404("No such job (or it is not yours).")
    return job


def noise_model_text(model: dict | None) -> str:
    """The estimated noise model as a microscopist reads a detector: gain and read noise.

    The core fits ``variance = gain * (signal - dark level) + read noise²``; the gain is
    in image units (counts) per detected electron, read noise and dark level in image
    units. "" when there is no model.

    Examples
    --------
    >>> noise_model_text({"gain": 67.6, "sigma": 0.0, "offset": 17012.0})
    'gain 67.6 counts per electron · read noise below what the image can measure · dark level 1.7e+04 (image units)'
    >>> noise_model_text({"gain": 1.03, "sigma": 0.372, "offset": 0.0})
    'gain 1.03 counts per electron · read noise σ = 0.372 (image units)'
    >>> noise_model_text({"slope": 1.0})
    ''
    """
    try:
        gain, sigma = float(model["gain"]), float(model["sigma"])
        offset = float(model.get("offset") or 0.0)
    except (TypeError, KeyError, ValueError, AttributeError):
        return ""
    parts = [f"gain {gain:.3g} counts per electron"]
    parts.append(f"read noise σ = {sigma:.3g} (image units)" if sigma > 0
                 else "read noise below what the image can measure")
    if offset:
        parts.append(f"dark level {offset:.2g} (image units)")
    return " · ".join(parts)


def pilot_text(options: dict | None, *, protect_defects: bool = False) -> str:
    """The first estimate the grouped passes started from, in words; "" without one.

    ``options`` is the core's ``DenoiseResult.options`` as stored in the diagnostics;
    ``protect_defects`` is the job's option, which turns the pilot off on purpose.

    Examples
    --------
    >>> pilot_text({"variant": {"pilot": "coarse"},
    ...             "pilot": {"kind": "coarse", "patch_size": 21, "n_kept": 3}})
    "coarse: the paper's pipeline on the 2×2-binned image, 21 × 21 px patches, 3 eigenpatches kept"
    >>> pilot_text({"variant": {"pilot": None}})
    ''
    >>> pilot_text({"variant": {"pilot": None}}, protect_defects=True)
    'none: rare defects protected (keeps more of their contrast, removes less noise)'
    """
    options = options or {}
    asked = (options.get("variant") or {}).get("pilot")
    if not asked:
        if protect_defects:
            return ("none: rare defects protected (keeps more of their contrast, removes "
                    "less noise)")
        return ""
    used = options.get("pilot")
    if not isinstance(used, dict):
        return f"none ({asked} pilot asked for, but the image is too small for it)"
    try:
        patch_size, n_kept = int(used["patch_size"]), int(used["n_kept"])
    except (KeyError, TypeError, ValueError):
        return str(used.get("kind") or asked)
    return (f"{used.get('kind') or asked}: the paper's pipeline on the 2×2-binned image, "
            f"{patch_size} × {patch_size} px patches, {n_kept} eigenpatch"
            f"{'' if n_kept == 1 else 'es'} kept")


@require_GET
def job_page(request: HttpRequest, job_id) -> HttpResponse:
    """Progress while the job runs, the result page when it is done, the reason if failed."""
    job = _job_or_404(request, job_id)
    status_payload = JobSerializer(job, context={"request": request}).data
    context = {
        "job": job,
        "method_label": methods.METHOD_LABELS.get(job.method, job.method),
        "method_trade_off": methods.METHOD_TRADE_OFFS.get(job.method, ""),
        "method_note": job.method_note,
        "queue": selectors.queue_estimate(job),
        "warnings": input_record.warnings_of(job),
        # a version names a trained model; the objective rules have none
        "uses_model": job.classifier_choice == ACTIVE,
        "status_url": reverse("denoiser:api-job", args=[job.pk]),
        "downloads": [
            {"name": name, "label": label, "url": status_payload["urls"]["downloads"][name]}
            for name, (_, _, label) in job_files.DOWNLOADS.items()
        ] if job.status == JobStatus.DONE else [],
    }
    if job.status == JobStatus.DONE:
        diagnostics = job.diagnostics or {}
        stacks = diagnostics.get("stacks", [])
        groups = diagnostics.get("groups")
        core_options = (diagnostics.get("core") or {}).get("options") or {}
        if groups:
            # a grouped result keeps only its largest groups' eigenvalues, per patch
            scree = scree_svg(
                [{**stack, "label": f"group {stack.get('group')}"} for stack in stacks],
                value_label="eigenvalue / patch",
            )
        else:
            scree = scree_svg(stacks)
        context.update(
            scree=mark_safe(scree),  # numbers and escaped labels only
            groups=groups,
            kept_histogram=[
                {"kept": kept, "groups": count}
                for kept, count in enumerate((groups or {}).get("kept_histogram", []))
                if count
            ],
            noise_model=noise_model_text(core_options.get("noise_model")),
            normalised_residual=residuals.normalised_summary(job),
            pilot=pilot_text(core_options, protect_defects=job.protect_defects),
            # what the core ran (its options record), not what the site meant to run
            local_means=bool(core_options.get("local_means")),
            stacks=[
                {
                    **stack,
                    "number": i + 1,
                    "title": f"Group {stack.get('group')} ({stack.get('n_patches')} patches)"
                    if groups else f"Stack {i + 1}",
                    "gallery_url": reverse("denoiser:job-image", args=[job.pk, f"gallery-{i}"])
                    if i < diagnostics.get("galleries", 0)
                    else "",
                }
                for i, stack in enumerate(stacks)
            ],
            diagnostics=diagnostics,
            timings=diagnostics.get("timings") or {},
        )
    return render(request, "denoiser/job.html", context)


@require_GET
def job_image(request: HttpRequest, job_id, name: str) -> HttpResponse:
    """A preview picture or eigenpatch gallery of a job (same visibility as the job)."""
    job = _job_or_404(request, job_id)
    if name in job_files.PREVIEWS:
        file_name = job_files.PREVIEWS[name]
    elif name.startswith("gallery-") and name[8:].isdigit():
        file_name = job_files.gallery_name(int(name[8:]))
    else:
        raise Http404("Unknown picture.")
    if not job_files.job_path(job, file_name).is_file():
        raise Http404("This picture does not exist (yet).")
    return send_file(
        job_files.storage_name(job, file_name), content_type="image/png", filename=file_name,
        cache_control="no-store" if name == "interim" else "private, max-age=3600")


@require_POST
def job_retry(request: HttpRequest, job_id) -> HttpResponse:
    job = _job_or_404(request, job_id)
    if job.status != JobStatus.FAILED:
        messages.info(request, "Only a failed job can be retried.")
    else:
        try:
            services.requeue_job(job)
        except UploadRejected as rejection:
            messages.error(request, rejection.message)
    return redirect("denoiser:job", job_id=job.pk)


@require_POST
def job_delete(request: HttpRequest, job_id) -> HttpResponse:
    job = _job_or_404(request, job_id)
    services.delete_job(job)
    messages.success(request, f"Deleted '{job.original_filename}' and its results.")
    return redirect("denoiser:denoise")
