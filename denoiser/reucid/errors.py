"""Errors raised by the REUCID core; each message is meant for a microscopist."""
from __future__ import annotations


class ReucidError(Exception):
    """Base class of every error the REUCID core raises on purpose."""


class InvalidImageError(ReucidError, ValueError):
    """The input is not an image the denoiser can work on (wrong shape, NaNs, unreadable)."""


class PatchSizeError(ReucidError, ValueError):
    """The requested patch size does not fit the image."""


class ModelLoadError(ReucidError):
    """A classifier model file is missing, corrupt, or not a REUCID model file."""
