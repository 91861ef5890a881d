"""User-facing errors: bad input that the CLI reports in one line, without a traceback.

Anything that is *not* a `GenlabError` is a bug and keeps its traceback.
"""


class GenlabError(Exception):
    """A problem with what the user asked for (unknown name, bad value, missing file).

    The message names the problem and the fix, in one line.
    """
