"""The engine's own error types: what the command line reports as a one-line user error.

Anything else that escapes a command (a ``KeyError`` or ``ValueError`` from a bug, from a
library) is not caught there: it shows its traceback, so bugs are not mistaken for bad input.
"""


class InputError(ValueError):
    """A bad value given to the engine: a field, an option, a file. The message is one line
    naming the value and what is allowed."""


class UnknownNameError(InputError, KeyError):
    """A name (plan, tier, variable) that is not one of the valid ones; also a ``KeyError``."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""
