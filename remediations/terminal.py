"""Text for a terminal: control characters from a tenant or an NDR shown, never obeyed.

Object names, addresses and NDR texts come from outside; printed raw, an escape
sequence in a name recolours the screen, moves the cursor or rewrites the line
above (``\\r``), and a bidirectional override reorders what the reader sees.
Every renderer passes what it prints through :func:`printable`: line breaks
(the renderer's own layout) and tabs stay, every other control character is
shown as a Python-style escape (``\\x1b``, ``\\r``, ``\\u202e``).
"""

from __future__ import annotations

import io
import sys
from typing import TextIO, cast

__all__ = ["STDERR", "STDOUT", "printable", "quoted"]

_NAMED = {"\r": "\\r", "\t": "\\t", "\n": "\\n", "\x0b": "\\x0b", "\x0c": "\\x0c"}


def _escape(code: int) -> str:
    char = chr(code)
    if char in _NAMED:
        return _NAMED[char]
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


#: C0 controls, DEL, C1 controls, and the Unicode bidirectional controls.
_CONTROLS = [*range(0x20), 0x7F, *range(0x80, 0xA0)]
_BIDI = [0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
_LINE_SEPARATORS = [0x2028, 0x2029]
_ESCAPES = {code: _escape(code) for code in (*_CONTROLS, *_BIDI, *_LINE_SEPARATORS)}
_KEEP_LAYOUT = {code: text for code, text in _ESCAPES.items() if chr(code) not in "\n\t"}


def printable(text: str, *, one_line: bool = False) -> str:
    """``text`` with control characters escaped; newlines and tabs kept unless ``one_line``."""
    return text.translate(_ESCAPES if one_line else _KEEP_LAYOUT)


def quoted(text: str) -> str:
    """``text`` in single quotes, as the user typed it, on one line.

    A public folder path reads as typed (one backslash, not ``repr``'s two); control
    characters are escaped as :func:`printable` does.
    """
    return f"'{printable(text, one_line=True)}'"


class _Standard(io.TextIOBase):
    """``sys.stdout`` or ``sys.stderr`` as it is when written to, not when a module was imported.

    The default of an ``out``/``err`` parameter is bound once; ``sys.stdout`` itself
    may be replaced later (``contextlib.redirect_stdout``, a test runner, an
    in-process CLI run), and the output must follow it.
    """

    def __init__(self, name: str) -> None:
        super().__init__()
        self._name = name

    def _stream(self) -> TextIO:
        stream: TextIO = getattr(sys, self._name)
        return stream

    def write(self, text: str) -> int:
        return self._stream().write(text)

    def flush(self) -> None:
        self._stream().flush()

    def isatty(self) -> bool:
        return self._stream().isatty()

    def fileno(self) -> int:
        return self._stream().fileno()

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._stream().encoding


#: Defaults for ``out``/``err`` parameters: the standard streams at the time of writing.
STDOUT = cast(TextIO, _Standard("stdout"))
STDERR = cast(TextIO, _Standard("stderr"))
