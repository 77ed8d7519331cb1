"""What the pages share: figures, markdown to HTML, and the pinned offline copies of their
JavaScript and CSS (npm, tools/web-assets). Used by the validate and overview stages and by the
pull-request report.

Imports only pipeline.core. Imported by pipeline.stages, pipeline.report and pipeline.cli.
"""
