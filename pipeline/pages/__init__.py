"""What the pages share: figures, markdown to HTML, and the pinned offline copies of their
JavaScript and CSS (npm: tools/web-assets, tools/demo-assets). Used by the validate and overview
stages, the pull-request report and the drawing page.

Imports only pipeline.core. Imported by pipeline.stages, pipeline.report, pipeline.tools and
pipeline.cli.
"""
