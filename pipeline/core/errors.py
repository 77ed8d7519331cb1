"""Expected failures: the CLI prints these as one clear message instead of a traceback."""


class PipelineError(Exception):
    """Bad input or a failed check, with a message that names the file, key or value at fault."""
