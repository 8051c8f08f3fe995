"""Downloads from the Hugging Face Hub, with one-line errors.

Every download of this package (codec checkpoints, the recipe's encoder, the
evaluation models) goes through ``huggingface_hub`` and its own settings:

* ``HF_ENDPOINT``: the Hub or a mirror (never a hard-coded host);
* ``HF_HUB_OFFLINE=1`` or ``local_files_only=True``: the local cache only;
* ``HF_HUB_CACHE`` / ``cache_dir``: where the cache is.

Its exceptions are turned into a ``HubError`` whose one-line message says what
happened: the repository or file was not found (a wrong id, or a private or
gated repository), the server failed (HTTP 5xx), downloads are off and the
cache has no copy, or the endpoint cannot be reached.

Authors
 * speechbrain-focalcodec developers 2026
"""

import contextlib
import functools
import socket
import urllib.parse
from pathlib import Path
from typing import Any, Iterator, Optional, Type

__all__ = [
    "HubError",
    "download",
    "endpoint",
    "endpoint_reachable",
    "hub_errors",
    "is_download_failure",
    "is_offline",
    "translate",
]

OFFLINE_HINT = (
    "download it on a connected machine (`hf download {repo_id}`) and copy the Hugging Face "
    "cache (HF_HUB_CACHE), or pass a local directory instead"
)


class HubError(RuntimeError):
    """A download from the Hub failed; ``kind`` says why.

    Arguments
    ---------
    message : str
        One line.
    kind : str
        ``"not_found"``, ``"server_error"``, ``"offline"``, ``"unreachable"``
        or ``"error"``.
    """

    def __init__(self, message: str, kind: str = "error") -> None:
        super().__init__(message)
        self.kind = kind


def endpoint() -> str:
    """The Hub endpoint ``huggingface_hub`` uses (``HF_ENDPOINT``).

    Returns
    -------
    endpoint : str

    Example
    -------
    >>> endpoint().startswith("http")
    True
    """
    from huggingface_hub import constants

    return constants.ENDPOINT


def is_offline() -> bool:
    """Whether ``huggingface_hub`` is in offline mode (``HF_HUB_OFFLINE``).

    Returns
    -------
    offline : bool

    Example
    -------
    >>> isinstance(is_offline(), bool)
    True
    """
    from huggingface_hub import constants

    check = getattr(constants, "is_offline_mode", None)
    return bool(check() if check is not None else constants.HF_HUB_OFFLINE)


@functools.cache
def _accepts_connections(url: str, timeout: float) -> bool:
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname or "", port), timeout=timeout).close()
    except (OSError, ValueError):
        return False
    return True


def endpoint_reachable(timeout: float = 3.0) -> bool:
    """Whether the endpoint (``HF_ENDPOINT``) accepts a connection; checked once per
    process and endpoint.

    Without it, ``huggingface_hub`` retries every request with back-off (tens of
    seconds per file) before reporting a machine without network; with it, downloads
    go straight to the local cache and fail at once with the ``unreachable`` reason.

    Arguments
    ---------
    timeout : float
        Seconds to wait for the connection.

    Returns
    -------
    reachable : bool

    Example
    -------
    >>> isinstance(endpoint_reachable(), bool)
    True
    """
    return _accepts_connections(endpoint(), timeout)


def cache_only(local_files_only: bool = False) -> bool:
    """Whether downloads must come from the local cache: asked for, offline mode, or an
    endpoint that cannot be reached.

    Arguments
    ---------
    local_files_only : bool
        The caller's own setting.

    Returns
    -------
    cache_only : bool

    Example
    -------
    >>> cache_only(True)
    True
    """
    return local_files_only or is_offline() or not endpoint_reachable()


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        if error.__cause__ is not None or error.__suppress_context__:
            error = error.__cause__
        else:
            error = error.__context__


def is_download_failure(error: BaseException) -> bool:
    """Whether an exception (or one of its causes) comes from a ``huggingface_hub`` download.

    Arguments
    ---------
    error : BaseException
        What a call that downloads raised.

    Returns
    -------
    from_hub : bool

    Example
    -------
    >>> from huggingface_hub.errors import LocalEntryNotFoundError
    >>> is_download_failure(LocalEntryNotFoundError("no")), is_download_failure(ValueError())
    (True, False)
    """
    for item in _chain(error):
        module = type(item).__module__ or ""
        if module.startswith(("huggingface_hub", "httpx", "requests", "urllib3")):
            return True
    return False


def _status(error: BaseException) -> Optional[int]:
    response = getattr(error, "response", None)
    status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None


def translate(
    error: BaseException,
    repo_id: str,
    filename: Optional[str] = None,
    local_files_only: bool = False,
) -> HubError:
    """The ``HubError`` that describes a ``huggingface_hub`` (or ``transformers``) failure.

    Arguments
    ---------
    error : BaseException
        What the download raised (its causes are inspected too).
    repo_id : str
        Repository that was asked for.
    filename : str, optional
        File that was asked for.
    local_files_only : bool
        Whether the call was restricted to the cache.

    Returns
    -------
    error : HubError

    Example
    -------
    >>> from huggingface_hub.errors import LocalEntryNotFoundError
    >>> translate(LocalEntryNotFoundError("no"), "someone/codec", local_files_only=True).kind
    'offline'
    """
    chain = list(_chain(error))
    names = {cls.__name__ for item in chain for cls in type(item).__mro__}
    statuses = [status for status in map(_status, chain) if status is not None]
    where = f"'{repo_id}'" + (f" ({filename})" if filename else "")
    host = endpoint()
    if "RevisionNotFoundError" in names:
        return HubError(f"{where}: the requested revision was not found on {host}", "not_found")
    if "RepositoryNotFoundError" in names or any(status in (401, 403) for status in statuses):
        return HubError(
            f"{where} was not found on {host}: a wrong repository id, or a private or gated "
            "repository (log in with `hf auth login` or pass a token)",
            "not_found",
        )
    if "RemoteEntryNotFoundError" in names or 404 in statuses:
        return HubError(f"{where} was not found on {host}", "not_found")
    server = [status for status in statuses if status >= 500]
    if server:
        return HubError(
            f"{host} answered {where} with a server error (HTTP {server[0]}); try again later, "
            "or pass a local directory instead",
            "server_error",
        )
    offline = local_files_only or is_offline()
    if (offline and is_download_failure(error)) or "OfflineModeIsEnabled" in names:
        return HubError(
            f"{where} is not in the local Hugging Face cache and downloads are off "
            f"(HF_HUB_OFFLINE=1 or local_files_only=True): " + OFFLINE_HINT.format(repo_id=repo_id),
            "offline",
        )
    if "LocalEntryNotFoundError" in names or names & {"ConnectError", "TimeoutException"}:
        return _unreachable(repo_id, filename)
    reason = " ".join(f"{type(error).__name__}: {error}".split())
    return HubError(f"cannot download {where} from {host}: {reason:.300}")


def download(repo_id: str, filename: str, **hub_kwargs: Any) -> Path:
    """``huggingface_hub.hf_hub_download`` with one-line errors.

    Arguments
    ---------
    repo_id : str
        Repository id (``owner/name``).
    filename : str
        File in the repository.
    **hub_kwargs : dict
        Forwarded (``revision``, ``cache_dir``, ``token``, ``local_files_only``...).

    Returns
    -------
    path : pathlib.Path
        The file in the local cache.

    Raises
    ------
    HubError
        Saying what went wrong.
    """
    from huggingface_hub import hf_hub_download

    asked = bool(hub_kwargs.get("local_files_only"))
    unreachable = not asked and not is_offline() and not endpoint_reachable()
    try:
        return Path(
            hf_hub_download(
                repo_id, filename, **{**hub_kwargs, "local_files_only": asked or unreachable}
            )
        )
    except Exception as error:
        if unreachable:
            raise _unreachable(repo_id, filename) from None
        raise translate(error, repo_id, filename, asked) from None


def _unreachable(repo_id: str, filename: Optional[str] = None) -> HubError:
    where = f"'{repo_id}'" + (f" ({filename})" if filename else "")
    return HubError(
        f"cannot reach {endpoint()} for {where} and the local Hugging Face cache has no copy: "
        "check the connection (or HF_ENDPOINT), or " + OFFLINE_HINT.format(repo_id=repo_id),
        "unreachable",
    )


@contextlib.contextmanager
def hub_errors(repo_id: str, error_class: Type[Exception] = HubError, prefix: str = "") -> Iterator:
    """Turns any exception of the block into ``error_class`` with a one-line message.

    For libraries that download through ``huggingface_hub`` themselves
    (``transformers``' ``from_pretrained``).

    Arguments
    ---------
    repo_id : str
        Repository the block downloads.
    error_class : type
        Exception raised instead.
    prefix : str
        Start of the message (e.g. what needed the repository).

    Yields
    ------
    None

    Example
    -------
    >>> try:
    ...     with hub_errors("someone/model", ValueError, "Metric: "):
    ...         raise OSError("boom")
    ... except ValueError as error:
    ...     print(str(error).endswith("OSError: boom"))
    True
    """
    try:
        yield
    except error_class:
        raise
    except Exception as error:
        raise error_class(prefix + str(translate(error, repo_id))) from None
