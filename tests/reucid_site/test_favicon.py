"""GET /favicon.ico: browsers ask for it on every site; it leads to the site's icon."""
from __future__ import annotations

from pathlib import Path

from django.contrib.staticfiles import finders


def test_favicon_ico_redirects_to_the_sites_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"].endswith("favicon.svg")
    found = finders.find("favicon.svg")
    assert found and b"<svg" in Path(found).read_bytes()
