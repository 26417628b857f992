"""Stored files: no URL serves MEDIA_ROOT; views that checked the permission call
reucid_site.files.send_file, which streams (embedded) or hands over to the proxy."""
from __future__ import annotations

import pytest
from django.http import Http404

from reucid_site.files import send_file


def write_file(media_root, name="denoise/abc/result.tif", content=b"II*\x00result"):
    path = media_root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return name, content


@pytest.mark.parametrize("debug", [True, False])
def test_media_url_serves_nothing_in_any_mode(client, settings, _media_root, debug):
    settings.DEBUG = debug
    name, content = write_file(_media_root)

    response = client.get(f"/media/{name}")

    assert response.status_code == 404
    assert content not in response.content


def test_no_escape_from_the_media_root(client, settings, _media_root, tmp_path):
    (tmp_path / "secret.txt").write_text("not media")

    for url in ("/media/../secret.txt", "/media/%2e%2e/secret.txt"):
        response = client.get(url)
        assert response.status_code in (400, 404), url
        assert b"not media" not in response.content


def test_send_file_streams_in_the_embedded_mode(settings, _media_root):
    settings.REUCID_FILE_SENDING = "django"
    name, content = write_file(_media_root)

    response = send_file(name, content_type="image/tiff", filename="out.tif",
                         as_attachment=True)

    assert b"".join(response.streaming_content) == content
    assert response["Content-Disposition"] == 'attachment; filename="out.tif"'
    assert "X-Accel-Redirect" not in response and "X-Sendfile" not in response


def test_send_file_hands_over_to_nginx_with_x_accel_redirect(settings, _media_root):
    settings.REUCID_FILE_SENDING = "x-accel-redirect"
    settings.REUCID_PROTECTED_MEDIA_URL = "/protected-media/"
    name, _ = write_file(_media_root)

    response = send_file(name, content_type="image/tiff", filename="out.tif")

    assert response["X-Accel-Redirect"] == f"/protected-media/{name}"
    assert response.content == b""  # nginx sends the bytes
    assert response["Content-Type"] == "image/tiff"
    assert response["Content-Disposition"] == 'inline; filename="out.tif"'


def test_send_file_hands_over_with_x_sendfile(settings, _media_root):
    settings.REUCID_FILE_SENDING = "x-sendfile"
    name, _ = write_file(_media_root)

    response = send_file(name, content_type="image/tiff", filename="out.tif")

    assert response["X-Sendfile"] == str((_media_root / name).resolve())


@pytest.mark.parametrize("mode", ["django", "x-accel-redirect", "x-sendfile"])
@pytest.mark.parametrize("name", ["../secret.txt", "/etc/passwd", "denoise/../../secret.txt",
                                  "denoise/missing.tif", ""])
def test_send_file_refuses_names_outside_the_media_root_or_missing(settings, _media_root,
                                                                   tmp_path, mode, name):
    settings.REUCID_FILE_SENDING = mode
    (tmp_path / "secret.txt").write_text("not media")

    with pytest.raises(Http404):
        send_file(name, content_type="text/plain", filename="x.txt")
