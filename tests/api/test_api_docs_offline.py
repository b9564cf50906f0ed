"""/docs renders with no internet: every asset it references is served by the api itself."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from services.api.app import create_app
from shared.settings import Settings


def test_docs_page_assets_are_local(tmp_path):
    app = create_app(Settings(local_storage_dir=tmp_path, redis_url="redis://127.0.0.1:1/0"))
    client = TestClient(app)  # no lifespan: /docs needs neither Redis nor storage
    html = client.get("/docs").text
    assets = re.findall(r"""(?:src|href)=['"]([^'"]+)['"]""", html)
    scripts = [a for a in assets if a.endswith((".js", ".css"))]
    assert scripts, html
    for asset in scripts:
        assert asset.startswith("/"), f"external asset {asset}"
        assert client.get(asset).status_code == 200, asset
