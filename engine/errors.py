"""The one exception type users see.

Every error that is the user's to fix (bad input, a missing array, a geometry mismatch)
is raised as :class:`FaciesError` with a one-line message that says what is wrong and
what to do. The CLI prints it without a traceback and exits with status 2.
"""


class FaciesError(Exception):
    """A problem the user can fix; the message is a single line meant for them."""
