"""The one error of the weights readers."""


class WeightsFileError(ValueError):
    """A weights file that cannot be read: corrupt, truncated, of another
    format, past a reader's limit, or asking for something a weights file
    has no use for. The message names the file."""
