"""The foundation every other package stands on: typed params (config), where files live (paths),
errors, atomic writes (files), IDX and dataset arrays (idx, data), counting results (metrics),
subprocesses and scratch checkouts (workspace), and the workspace's run lock (runlock).

Imports nothing else of pipeline's, and never TensorFlow. Imported by every package.
"""
