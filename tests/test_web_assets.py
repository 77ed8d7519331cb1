"""The offline copies' plumbing, without a browser: which CDN addresses are replaced, where the
copies go, and the errors when they are missing (tests/test_pages.py opens the real pages)."""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path

import pytest

from pipeline.core.paths import ProjectPaths
from pipeline.pages import assets as web_assets

# Found without importing Great Expectations (7 CPU-seconds for each test process that
# collects this).
GX_TEMPLATES = (
    Path(importlib.util.find_spec("great_expectations").origin).parent / "render/view/templates"
)
# A script or stylesheet a page loads (not a link a reader may follow).
LOADED = re.compile(r'<(?:script|link)[^>]*(?:src|href)="(https://[^"{]+)"')


def fake_install(root: Path, content=lambda relative: f"/* {relative} */") -> ProjectPaths:
    project = ProjectPaths(root)
    for relative in {*web_assets.DATA_DOCS_ASSETS.values(), *web_assets.FONTS}:
        path = web_assets.node_modules(project) / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content(relative))
    return project


def test_every_cdn_asset_in_great_expectations_templates_has_a_local_copy():
    """Fails when a Great Expectations upgrade loads something new from a CDN."""
    loaded = {url for template in GX_TEMPLATES.glob("*.j2")
              for url in LOADED.findall(template.read_text())}
    assert loaded and loaded <= set(web_assets.DATA_DOCS_ASSETS), loaded - set(
        web_assets.DATA_DOCS_ASSETS
    )


def test_data_docs_pages_at_any_depth_point_at_copies_inside_the_site(tmp_path):
    project = fake_install(tmp_path / "project")
    site = tmp_path / "site"
    tags = "".join(f'<script src="{url}" integrity="sha384-x" crossorigin="anonymous"></script>'
                   for url in web_assets.DATA_DOCS_ASSETS)
    logo = ('<img src="https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/'
            'logo-long.png?d=20000101T000000.000000Z">')
    pages = [site / "index.html", site / "validations/a/b/c/d/page.html"]
    for page in pages:
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(f"<html><head>{tags}</head><body>{logo}</body></html>")

    web_assets.localise_site(site, project)

    for page in pages:
        html = page.read_text()
        assert "https://" not in html and "integrity" not in html and "crossorigin" not in html
        for target in re.findall(r'src="([^"]+)"', html):
            assert (page.parent / target).resolve().is_relative_to(site.resolve())
            if "logo" not in target:
                assert (page.parent / target).is_file(), target
    fonts = site / web_assets.SITE_VENDOR / "@fortawesome/fontawesome-free/webfonts"
    assert sorted(p.name for p in fonts.iterdir()) == sorted(Path(f).name for f in web_assets.FONTS)


def test_plots_template_inlines_vega_and_keeps_dvcs_placeholders(tmp_path):
    project = fake_install(tmp_path)
    template = web_assets.write_plots_template(project).read_text()
    assert template.count("<script>") == 4  # vega, vega-lite, vega-embed, the SVG default
    assert "{plot_divs}" in template and "{refresh_tag}" in template
    assert "{scripts}" not in template and "https://" not in template
    order = [template.index(f"/* {relative} */") for relative in web_assets.PLOTS_SCRIPTS]
    assert order == sorted(order)


def test_a_script_that_would_break_dvcs_template_is_refused_naming_it(tmp_path):
    project = fake_install(tmp_path, lambda relative: "var s = '{plot_divs}';")
    with pytest.raises(web_assets.AssetsMissing, match=r"vega\.min\.js: contains '\{plot_divs\}'"):
        web_assets.write_plots_template(project)


def test_missing_copies_name_the_file_and_the_command(tmp_path):
    with pytest.raises(web_assets.AssetsMissing, match=r"bootstrap.*missing.*make install"):
        web_assets.localise_site(tmp_path / "site", ProjectPaths(tmp_path))


def test_no_npm_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no npm on it
    assert os.environ["PATH"] == str(tmp_path)
    with pytest.raises(web_assets.AssetsMissing, match="npm not found"):
        web_assets.install(ProjectPaths(tmp_path))
