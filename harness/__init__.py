"""What the tests and the benchmarks share: tiny synthetic IDX datasets and projects (synthetic),
processes, servers and headless Chromium (helpers). Not part of the product: nothing in
pipeline/ imports it. It exists so that bench/ never imports tests/.
"""
