"""Exceptions the studio raises for bad input; their message is shown to the user as is."""

from __future__ import annotations


class StudioError(Exception):
    """Base for errors a user can act on (one-line message, no traceback needed)."""


class InvalidInput(StudioError, ValueError):
    """Input data does not have the expected form; the message names expected vs actual."""


class NotFound(StudioError, LookupError):
    """A dataset, image, job or file that was asked for does not exist."""


class Conflict(StudioError):
    """The action would overwrite or duplicate something (e.g. export over an existing path)."""
