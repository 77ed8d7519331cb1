"""Pages that render offline: local, pinned copies of what DVC's plots and Great Expectations'
Data Docs would load from CDNs.

The copies come from npm (tools/web-assets/package-lock.json pins them) when `lenet assets` runs
(`make install` runs it). It also writes DVC's plots template (.dvc/config's
`plots.html_template`), with vega, vega-lite and vega-embed inlined, so that plain `dvc plots show`
and `dvc plots diff` write self-contained pages, wherever `-o` puts them. The validate stage points
the Data Docs' CDN addresses at copies inside each site (`localise_site`); Great Expectations
still renders every page.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from pathlib import Path

from pipeline.core import workspace
from pipeline.core.errors import PipelineError
from pipeline.core.files import atomic_path
from pipeline.core.paths import ProjectPaths

log = logging.getLogger("pipeline")

# What DVC's pages load (dvc_render's VegaRenderer.SCRIPTS), in load order. The versions are
# DVC's own but for vega: vega-lite 5.2.0 needs vega >= 5.21 (npm refuses DVC's 5.20.2).
PLOTS_SCRIPTS = ("vega/build/vega.min.js", "vega-lite/build/vega-lite.min.js",
                 "vega-embed/build/vega-embed.min.js")

# Every CDN address in Great Expectations 1.24's page templates -> its copy in node_modules.
# popper.js is 1.14.7 where Great Expectations names 1.12.9: bootstrap 4.3.1 requires >= 1.14.7.
DATA_DOCS_ASSETS = {
    "https://cdn.jsdelivr.net/npm/vega@5": PLOTS_SCRIPTS[0],
    "https://cdn.jsdelivr.net/npm/vega-lite@5": PLOTS_SCRIPTS[1],
    "https://cdn.jsdelivr.net/npm/vega-embed@6": PLOTS_SCRIPTS[2],
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery/dist/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js":
        "popper.js/dist/umd/popper.min.js",
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js":
        "bootstrap/dist/js/bootstrap.min.js",
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css":
        "bootstrap/dist/css/bootstrap.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js":
        "bootstrap-table/dist/bootstrap-table.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css":
        "bootstrap-table/dist/bootstrap-table.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.min.js":
        "bootstrap-table/dist/extensions/filter-control/bootstrap-table-filter-control.min.js",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.min.css":
        "bootstrap-table/dist/extensions/filter-control/bootstrap-table-filter-control.min.css",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.css":
        "bootstrap-table/dist/extensions/filter-control/bootstrap-table-filter-control.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js":
        "bootstrap-datepicker/dist/js/bootstrap-datepicker.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/"
    "bootstrap-datepicker.min.css":
        "bootstrap-datepicker/dist/css/bootstrap-datepicker.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css":
        "@fortawesome/fontawesome-free/css/all.min.css",
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css":
        "@forevolve/bootstrap-dark/dist/css/bootstrap-prefers-dark.css",
}
# Loaded by a copied stylesheet (all.min.css's ../webfonts/); browsers take the woff2 first.
FONTS = tuple(f"@fortawesome/fontawesome-free/webfonts/fa-{face}.woff2"
              for face in ("brands-400", "regular-400", "solid-900", "v4compatibility"))
# The logo in every page's navigation bar; Great Expectations copies it into the site itself.
LOGO = re.compile(r"https://great-expectations-web-assets\.s3\.us-east-2\.amazonaws\.com/"
                  r"logo-long\.png(\?[^\"']*)?")
SITE_VENDOR = Path("static") / "vendor"
# Subresource integrity and CORS mode make a browser refuse a file:// copy.
INTEGRITY = re.compile(r'\s+(integrity|crossorigin)="[^"]*"')
# DVC fills these in its template (dvc_render.html.HTML.embed); none may occur in inlined code.
DVC_PLACEHOLDERS = ("{plot_divs}", "{scripts}", "{refresh_tag}")
SOURCE_MAP = re.compile(r"\n//# sourceMappingURL=\S+\s*$")

# Plots as SVG, not canvas: crisp when zoomed, text selectable, and marks visible in the DOM.
PLOTS_TEMPLATE = """<!DOCTYPE html>
<html>
<head>
    {refresh_tag}
    <meta charset="utf-8">
    <title>DVC Plot</title>
    {scripts_inline}
    <script>
      const embedOffline = vegaEmbed;
      vegaEmbed = (el, spec, opt) => embedOffline(el, spec, {{renderer: "svg", ...opt}});
    </script>
    <style>
        table {{
            border-spacing: 15px;
        }}
    </style>
</head>
<body>
    {plot_divs}
</body>
</html>
"""


class AssetsMissing(PipelineError):
    """The pinned copies are not installed (or npm could not install them)."""


def node_modules(project: ProjectPaths) -> Path:
    return project.web_assets / "node_modules"


def asset(project: ProjectPaths, relative: str) -> Path:
    path = node_modules(project) / relative
    if not path.is_file():
        raise AssetsMissing(f"{path}: missing: the offline web assets are not installed; run "
                            "`make install` (or `lenet assets`)")
    return path


def npm_ci(folder: Path) -> None:
    """Install exactly what `folder`'s package-lock.json pins (the pages' offline copies)."""
    if shutil.which("npm") is None:
        raise AssetsMissing("npm not found: the offline pages' assets come from npm "
                            "(Debian: apt-get install npm)")
    log.info("assets: npm ci in %s", folder)
    workspace.run("npm", "ci", "--no-audit", "--no-fund", "--loglevel=error", cwd=folder)


def install(project: ProjectPaths) -> Path:
    """npm ci the pinned copies, then write DVC's plots template from them; returns the template."""
    npm_ci(project.web_assets)
    return write_plots_template(project)


def write_plots_template(project: ProjectPaths) -> Path:
    scripts = []
    for relative in PLOTS_SCRIPTS:
        path = asset(project, relative)
        code = SOURCE_MAP.sub("\n", path.read_text(encoding="utf-8"))
        clash = [p for p in (*DVC_PLACEHOLDERS, "</script") if p in code]
        if clash:
            raise AssetsMissing(f"{path}: contains {clash[0]!r}: it cannot be inlined in DVC's "
                                "plots template")
        scripts.append(f"<script>/* {relative} */\n{code}</script>")
    page = PLOTS_TEMPLATE.format(scripts_inline="\n    ".join(scripts), refresh_tag="{refresh_tag}",
                                 plot_divs="{plot_divs}")
    with atomic_path(project.plots_template) as tmp:
        tmp.write_text(page, encoding="utf-8")
    log.info("assets: DVC's plots template: %s (%d kB)", project.plots_template,
             project.plots_template.stat().st_size // 1000)
    return project.plots_template


def localise_site(site: Path, project: ProjectPaths) -> None:
    """Point every Data Docs page in `site` at copies under site/static/vendor/, copied there, so
    the site works offline and wherever it is moved."""
    vendor = site / SITE_VENDOR
    for relative in sorted({*DATA_DOCS_ASSETS.values(), *FONTS}):
        (vendor / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(asset(project, relative), vendor / relative)
    for page in site.rglob("*.html"):
        up = Path(os.path.relpath(site, page.parent))
        html = page.read_text(encoding="utf-8")
        for url, relative in DATA_DOCS_ASSETS.items():
            html = html.replace(f'"{url}"', f'"{(up / SITE_VENDOR / relative).as_posix()}"')
        html = LOGO.sub((up / "static" / "images" / "logo-long.png").as_posix(), html)
        page.write_text(INTEGRITY.sub("", html), encoding="utf-8")
