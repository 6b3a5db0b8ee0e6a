"""One exception hierarchy for the library; only ``cli`` maps it to exit codes.

Exit codes (documented in the README): 0 success/conforms, 1 violations found, 2 unusable input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


class GuidelineKGError(Exception):
    """Base class of every error the library raises on purpose."""

    exit_code = 2


@dataclass(frozen=True)
class Location:
    """A place in an input file; line and column are 1-based, ``None`` when unknown."""

    path: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        if self.line is None:
            return self.path
        if self.column is None:
            return f"{self.path}:{self.line}"
        return f"{self.path}:{self.line}:{self.column}"


class InputError(GuidelineKGError):
    """Input that cannot be used: unreadable, malformed, of an unknown kind.

    The message says what is wrong and, where known, where (``file:line:column``) and how to fix it.
    """

    def __init__(self, message: str, location: Location | None = None, hint: str | None = None):
        self.message = message
        self.location = location
        self.hint = hint
        super().__init__(self.render())

    def render(self) -> str:
        text = f"{self.location}: {self.message}" if self.location else self.message
        if self.hint:
            text += f"\n  hint: {self.hint}"
        # a control character from the input (an ESC sequence in a file name or a literal) is shown, not sent
        return CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def no_such_path(path: object, hint: str | None = None) -> InputError:
    """The one message for an input path that does not exist, whichever argument or option named it."""
    return InputError("no such file or directory", Location(str(path)), hint=hint)


CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # all but tab and line break


class ConfigurationError(GuidelineKGError):
    """The shipped or given configuration (rules, shapes, content) is broken."""
