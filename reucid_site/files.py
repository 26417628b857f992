"""Handing a stored file to the client after a view has checked who may see it.

No URL maps onto MEDIA_ROOT: uploads, results, survey candidates, ground truth and
decompositions are reached only through views that check the owner, staff, a job's secret
link or a respondent's own candidate token, and then call :func:`send_file`. How the bytes
travel is ``settings.REUCID_FILE_SENDING``:

* ``django``: a ``FileResponse`` streams the file (embedded mode, or S3 storage);
* ``x-accel-redirect``: nginx serves ``REUCID_PROTECTED_MEDIA_URL + name`` from an
  ``internal`` location (docs/deployment.md), the web worker is free at once;
* ``x-sendfile``: Apache mod_xsendfile / lighttpd serve the absolute path.

The answer's headers are the same whichever way is used, and say nothing about the file's
stored name: the view chooses the ``filename`` the client sees.
"""
from __future__ import annotations

from pathlib import Path, PurePosixPath
from urllib.parse import quote

from django.conf import settings
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpResponse
from django.utils.http import content_disposition_header


def _checked_name(name: str) -> str:
    """The storage name, refused (404) if it could leave MEDIA_ROOT."""
    pure = PurePosixPath(str(name).replace("\\", "/"))
    if not name or pure.is_absolute() or ".." in pure.parts:
        raise Http404("no such file")
    return pure.as_posix()


def storage_name(path: Path) -> str:
    """The storage name (relative to MEDIA_ROOT) of an absolute path inside it."""
    return Path(path).resolve().relative_to(Path(settings.MEDIA_ROOT).resolve()).as_posix()


def send_file(name: str, *, content_type: str, filename: str, as_attachment: bool = False,
              cache_control: str = "private, max-age=3600") -> HttpResponse:
    """Answer with the stored file ``name``; the caller has checked the permission.

    Parameters
    ----------
    name : str
        Storage name relative to MEDIA_ROOT (``denoise/<uuid>/result.tif``).
    content_type : str
        The ``Content-Type`` to send.
    filename : str
        The name the client sees in ``Content-Disposition`` (never the stored name).
    as_attachment : bool
        ``attachment`` (download) instead of ``inline``.
    cache_control : str
        The ``Cache-Control`` header; private files are never cached by shared caches.

    Raises
    ------
    Http404
        The file does not exist (yet), or the name tries to leave MEDIA_ROOT.
    """
    name = _checked_name(name)
    mode = settings.REUCID_FILE_SENDING
    on_disk = settings.REUCID_STORAGE == "filesystem"
    if on_disk:
        root = Path(settings.MEDIA_ROOT).resolve()
        path = (root / name).resolve()
        if root not in path.parents or not path.is_file():
            raise Http404("no such file")
    elif not default_storage.exists(name):
        raise Http404("no such file")
    if mode == "django" or not on_disk:
        # FileResponse closes the file when the response is done.
        handle = open(path, "rb") if on_disk else default_storage.open(name, "rb")  # noqa: SIM115
        response = FileResponse(handle, content_type=content_type,
                                as_attachment=as_attachment, filename=filename)
    else:
        response = HttpResponse(content_type=content_type)
        if mode == "x-accel-redirect":
            response["X-Accel-Redirect"] = quote(
                settings.REUCID_PROTECTED_MEDIA_URL.rstrip("/") + "/" + name)
        else:
            response["X-Sendfile"] = str(path)
        response["Content-Disposition"] = content_disposition_header(as_attachment, filename)
    response["Cache-Control"] = cache_control
    response["X-Content-Type-Options"] = "nosniff"
    return response
