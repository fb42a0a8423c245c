"""The few errors Relais raises; each message says what to do next."""


class RelaisError(Exception):
    """Base class: the CLI and the UI show the message as is."""


class ConfigError(RelaisError):
    """A setting has a value Relais cannot use."""


class IndexMissingError(RelaisError):
    """There is no index to query yet."""


class IndexBuildingError(RelaisError):
    """An ingest is filling an empty index (a first run or `--reset`) and has not finished."""


class EmbedderMismatchError(RelaisError):
    """The index was built with another embedder than the configured one."""


class EmbedderUnavailableError(RelaisError):
    """The configured embedder cannot be loaded on this machine."""


class LLMError(RelaisError):
    """The configured LLM could not be reached or answered badly."""


class NotFoundError(RelaisError):
    """An unknown conversation or message (ids are unguessable, so a typo or an expired link)."""


class ConflictError(RelaisError):
    """The conversation is not in a state that allows this (claimed by someone else, not waiting, ...)."""


class InputError(RelaisError):
    """A message or form field the user must fix (empty, too long)."""


class StorageError(RelaisError):
    """The server cannot write (or read) its data: a full disk, a database server down. Nothing acknowledged is lost."""
