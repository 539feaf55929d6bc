"""User-facing errors.

Anything a user can fix (a bad file, a wrong dimension, a missing field) raises
`SaescopeError` with a message that names the file, row or field. The CLI prints the message
without a traceback and exits with code 2.
"""

from __future__ import annotations


class SaescopeError(Exception):
    """An error caused by the user's input or configuration, with a message that says where."""


class InputError(SaescopeError):
    """Malformed, missing or inconsistent input data (names the file, row or field)."""


class ConfigError(SaescopeError):
    """An invalid option or combination of options."""
