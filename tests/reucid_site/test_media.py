"""Media files: served by Django only with DEBUG or REUCID_SERVE_MEDIA, from MEDIA_ROOT."""
from __future__ import annotations


def write_result(media_root, name="jobs/abc/result.tif", content=b"II*\x00result"):
    path = media_root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return name, content


def test_not_served_by_default_outside_debug(client, settings, _media_root):
    settings.DEBUG = False
    settings.REUCID_SERVE_MEDIA = False
    name, _ = write_result(_media_root)

    assert client.get(f"/media/{name}").status_code == 404


def test_served_from_the_media_root_in_force_when_enabled(client, settings, _media_root):
    settings.REUCID_SERVE_MEDIA = True
    name, content = write_result(_media_root)

    response = client.get(f"/media/{name}")

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == content


def test_no_escape_from_the_media_root(client, settings, _media_root, tmp_path):
    settings.REUCID_SERVE_MEDIA = True
    (tmp_path / "secret.txt").write_text("not media")

    for url in ("/media/../secret.txt", "/media/%2e%2e/secret.txt"):
        response = client.get(url)
        assert response.status_code in (400, 404), url
        assert b"not media" not in response.content


def test_not_served_from_disk_when_media_lives_in_s3(client, settings, _media_root):
    settings.REUCID_SERVE_MEDIA = True
    settings.REUCID_STORAGE = "s3"
    name, _ = write_result(_media_root)

    assert client.get(f"/media/{name}").status_code == 404
