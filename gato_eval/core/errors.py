"""The one exception type users see.

Library code raises `GatoEvalError` for anything a user can fix (a bad path, an unknown task, a
corrupted file). The CLI prints its message as one line and exits non-zero; anything else is a bug
and keeps its traceback.
"""


class GatoEvalError(Exception):
    """A user-facing error: its message is printed as one line, without a traceback."""

    exit_code = 1


def close_matches(name: str, choices, limit: int = 3) -> str:
    """A ' (did you mean: a, b?)' hint for an unknown `name`, or '' when nothing is close."""
    import difflib

    matches = difflib.get_close_matches(name, list(choices), n=limit, cutoff=0.5)
    return f" (did you mean: {', '.join(matches)}?)" if matches else ""


def check_choice(value: str, choices, what: str) -> str:
    """`value` when it is one of `choices`; else a GatoEvalError naming `what`, the choices and
    the close matches: "unknown WHAT 'x': choose one of a, b (did you mean: a?)"."""
    if value not in choices:
        raise GatoEvalError(
            f"unknown {what} {value!r}: choose one of {', '.join(choices)}"
            + close_matches(str(value), choices)
        )
    return value
