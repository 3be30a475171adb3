"""The one exception type for failures a user can fix.

The CLI prints ``str(error)`` as a single line and exits with ``exit_code``; anything else is a bug and
keeps its traceback (shown with ``--debug``).
"""


class FiveornotError(Exception):
    """A failure with a message that says what went wrong and what to do next."""

    exit_code = 1


class DataError(FiveornotError):
    """MNIST (or another IDX data set) could not be found, read or verified."""


class IdxFormatError(DataError):
    """A file is not a valid IDX file (truncated, wrong magic, wrong dtype, sizes that disagree)."""


class ModelFileError(FiveornotError):
    """A model file is missing, truncated, tampered with, or of an unknown version."""


class ImageError(FiveornotError):
    """A picture could not be turned into an MNIST-style 28x28 digit."""


class TrainingError(FiveornotError):
    """Training cannot go on (for example the loss diverged)."""


class RunError(FiveornotError):
    """A run directory or run name could not be found or written."""
