"""Project exception types: every error a user can cause derives from ``RlexecError``."""


class RlexecError(Exception):
    """Base class of every error rlexec raises on purpose; the CLI prints it as one line."""


class ConfigError(RlexecError):
    """The configuration file or an RLEXEC_* environment variable is invalid."""


class InvalidInputError(RlexecError, ValueError):
    """A value handed to rlexec (state feature, market snapshot, order) is out of its domain."""


class StoreError(RlexecError):
    """A database operation failed; the message never contains a password."""


class ModelFileError(RlexecError):
    """A JSON model file is missing, malformed or of an unsupported format version."""
