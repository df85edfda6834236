"""A journal of the TXT records a run may have created, kept on disk so that it outlives the run.

Where: ``<Certbot's --work-dir>/dns-netcup/journal/`` (directory mode 0700), one
file per run, ``<run id>.journal`` (mode 0600).  The run holds an exclusive
``flock`` on its file for as long as it lives; a file whose lock can be taken
belongs to a run that is gone (killed, crashed, power lost), and a later run on
this host removes the records it left behind.  A run that is still going (a
concurrent Certbot) holds its lock and is never touched.

Format: JSON, one object per line, appended and fsync'ed before the step it
announces::

    {"journal": 1, "run": "20261202T061500Z-4242-1a2b3c", "pid": 4242, "started": "2026-12-02T06:15:00Z"}
    {"event": "adding", "api": "ccp", "zone": "example.com", "name": "_acme-challenge.example.com",
     "value": "<43-character ACME value>", "rest_id": null, "account": "12345", "at": "..."}
    {"event": "removed", "api": "ccp", "zone": "example.com", "name": "_acme-challenge.example.com",
     "value": "...", "at": "..."}

An ``adding`` line is written before the request that creates the record is sent;
the ``removed`` line once the record is gone (or netcup said it did not create
it).  A run whose records are all gone deletes its file.  ``account`` is the CCP
customer number (not a secret; it tells journals of different accounts apart);
no API key, password or session id is ever written.  A line cut short by a crash
is ignored.  A journal that cannot be read or written is a warning, never a
failed renewal.
"""

from __future__ import annotations

import datetime
import errno
import json
import logging
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
SUFFIX = ".journal"
CCP_API = "ccp"
REST_API = "rest"
API_NAMES = {CCP_API: "CCP API", REST_API: "REST API"}

try:  # POSIX; without fcntl (Windows) there is no journal
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]


def journal_dir(work_dir: str) -> str:
    return os.path.join(work_dir, "dns-netcup", "journal")


@dataclass(frozen=True)
class JournalEntry:
    """One TXT record a run may have created (never a secret)."""

    api: str  # CCP_API or REST_API
    zone: str
    name: str  # absolute owner name of the TXT record
    value: str
    rest_id: Optional[int] = None  # the REST API's domain id of the zone
    account: Optional[str] = None  # CCP customer number

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.api, self.zone, self.name, self.value)

    @property
    def api_name(self) -> str:
        return API_NAMES.get(self.api, self.api)

    def describe(self) -> str:
        return f'{self.name} TXT "{self.value}" in zone {self.zone} ({self.api_name})'

    def as_json(self) -> dict[str, Any]:
        return {
            "api": self.api,
            "zone": self.zone,
            "name": self.name,
            "value": self.value,
            "rest_id": self.rest_id,
            "account": self.account,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Optional[JournalEntry]:
        try:
            api, zone, name, value = (str(data[k]) for k in ("api", "zone", "name", "value"))
            rest_id = data.get("rest_id")
            account = data.get("account")
            return cls(
                api, zone, name, value, int(rest_id) if rest_id is not None else None, str(account) if account else None
            )
        except (KeyError, TypeError, ValueError):
            return None


@dataclass
class RunRecords:
    """What one run's journal file says is (maybe) still in the zones."""

    run: str
    path: str
    started: str
    alive: bool  # the run still holds its lock
    entries: list[JournalEntry] = field(default_factory=list)


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _new_run_id() -> str:
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{os.getpid()}-{secrets.token_hex(3)}"


def _read(fd: int, path: str, alive: bool) -> RunRecords:
    """The outstanding entries of a journal file (added and not removed, counted per record)."""
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    run = os.path.basename(path)[: -len(SUFFIX)] if path.endswith(SUFFIX) else os.path.basename(path)
    started = ""
    outstanding: dict[tuple[str, str, str, str], list[JournalEntry]] = {}
    for line in b"".join(chunks).decode("utf-8", errors="replace").splitlines():
        try:
            data = json.loads(line)
        except ValueError:
            continue  # a line cut short when the run died
        if not isinstance(data, dict):
            continue
        if "journal" in data:
            run, started = str(data.get("run") or run), str(data.get("started") or "")
            continue
        entry = JournalEntry.from_json(data)
        if entry is None:
            continue
        if data.get("event") == "adding":
            outstanding.setdefault(entry.key, []).append(entry)
        elif data.get("event") == "removed" and outstanding.get(entry.key):
            outstanding[entry.key].pop()
    entries = [e for group in outstanding.values() for e in group]
    return RunRecords(run, path, started, alive, entries)


def _append(fd: int, data: dict[str, Any]) -> None:
    os.write(fd, (json.dumps(data, sort_keys=True) + "\n").encode("utf-8"))
    os.fsync(fd)


def _journal_files(directory: str) -> list[str]:
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    return sorted(os.path.join(directory, n) for n in names if n.endswith(SUFFIX))


class Journal:
    """This run's journal: ``note`` before creating a record, ``removed`` once it is gone.

    The file is created (and locked) by ``open`` or the first note.  Nothing here raises: a
    journal that cannot be written is reported once through ``warn`` and then left alone.
    """

    def __init__(self, work_dir: Optional[str], warn: Callable[[str], None], account: Optional[str] = None) -> None:
        self.directory = journal_dir(work_dir) if work_dir else None
        self.warn = warn
        self.account = account
        self.run_id = _new_run_id()
        self._fd: Optional[int] = None
        self._path: Optional[str] = None
        self._broken = self.directory is None or fcntl is None
        self._outstanding: list[JournalEntry] = []
        if self.directory is None:
            logger.debug("no Certbot work directory known: no journal of the records")

    @property
    def path(self) -> Optional[str]:
        return self._path

    @property
    def outstanding(self) -> list[JournalEntry]:
        return list(self._outstanding)

    def open(self) -> bool:
        """Create and lock this run's file (once); False when the journal cannot be written."""
        if self._fd is not None:
            return True
        if self._broken:
            return False
        assert self.directory is not None
        try:
            _make_private_dir(self.directory)
            temporary = os.path.join(self.directory, f".{self.run_id}.new")
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                _append(fd, {"journal": FORMAT_VERSION, "run": self.run_id, "pid": os.getpid(), "started": _now()})
                path = os.path.join(self.directory, self.run_id + SUFFIX)
                # Only complete, locked files carry the suffix that other runs look at.
                os.rename(temporary, path)
            except BaseException:
                os.close(fd)
                _unlink(temporary)
                raise
        except OSError as error:
            self._fail(error)
            return False
        self._fd, self._path = fd, path
        logger.debug("journal of this run: %s", path)
        return True

    def note(self, entry: JournalEntry) -> None:
        """Write down, before the request is sent, that ``entry`` may be about to exist."""
        if self.account and entry.api == CCP_API and entry.account is None:
            entry = JournalEntry(entry.api, entry.zone, entry.name, entry.value, entry.rest_id, self.account)
        self._outstanding.append(entry)
        self._write("adding", entry)

    def removed(self, entry: JournalEntry) -> None:
        """``entry`` is gone (or was never created): cross it out."""
        for index, known in enumerate(self._outstanding):
            if known.key == entry.key:
                del self._outstanding[index]
                break
        self._write("removed", entry)

    def close(self) -> None:
        """Delete the file if every record is gone, and release the lock.  Called after cleanup."""
        fd, path = self._fd, self._path
        if fd is None or path is None:
            return
        self._fd = self._path = None
        try:
            if not self._outstanding:
                _unlink(path)
            else:
                logger.debug("journal %s keeps %d record(s) for a later run", path, len(self._outstanding))
        finally:
            os.close(fd)
            # Should this plugin instance create records again, they go to a new file: the old one, with
            # what could not be removed, is left to a later run.
            self.run_id = _new_run_id()
            self._outstanding = []

    def _write(self, event: str, entry: JournalEntry) -> None:
        if not self.open():
            return
        assert self._fd is not None
        try:
            _append(self._fd, {"event": event, **entry.as_json(), "at": _now()})
        except OSError as error:
            self._fail(error)

    def _fail(self, error: OSError) -> None:
        if self._broken:
            return
        self._broken = True
        reason = error.strerror or str(error)
        self.warn(
            f"Could not use the dns-netcup journal in {self.directory} ({reason}). The renewal goes on, but "
            "should this run be killed before it removes its TXT records, a later run will not know to remove "
            "them. Make that directory (under Certbot's --work-dir) a writable directory for the user running "
            "Certbot."
        )

    # ----- what runs that are gone left behind ----------------------------------------------------
    def dead_runs(self) -> Iterator[DeadRun]:
        """Each journal of a run that is gone, locked while the caller handles it."""
        if self.directory is None or fcntl is None or self._broken:
            return
        try:
            paths = _journal_files(self.directory)
            _remove_unfinished(self.directory)
        except OSError as error:
            self._fail(error)
            return
        for path in paths:
            if path == self._path:
                continue
            try:
                fd = os.open(path, os.O_RDWR | os.O_APPEND)
            except FileNotFoundError:
                continue  # removed meanwhile by its run or by another one
            except OSError as error:
                self.warn(f"Could not read the dns-netcup journal {path} ({error.strerror or error}).")
                continue
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError as error:
                    if error.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                        continue  # a run in progress
                    raise
                if not os.path.exists(path):
                    continue  # its run finished and removed it while we opened it
                dead = DeadRun(fd, _read(fd, path, alive=False), self.warn)
                yield dead
                dead.finish()
            except OSError as error:
                self.warn(f"Could not read the dns-netcup journal {path} ({error.strerror or error}).")
            finally:
                os.close(fd)


class DeadRun:
    """The journal of a run that is gone, locked by us."""

    def __init__(self, fd: int, records: RunRecords, warn: Callable[[str], None]) -> None:
        self._fd = fd
        self.records = records
        self._warn = warn
        self._left = list(records.entries)

    @property
    def run(self) -> str:
        return self.records.run

    @property
    def entries(self) -> list[JournalEntry]:
        return list(self.records.entries)

    def removed(self, entry: JournalEntry) -> None:
        self._left = [e for e in self._left if e is not entry]
        try:
            _append(self._fd, {"event": "removed", **entry.as_json(), "at": _now()})
        except OSError as error:
            self._warn(
                f"Could not update the dns-netcup journal {self.records.path} ({error.strerror or error}): a later "
                "run will look for records that are already gone, which is harmless."
            )

    def finish(self) -> None:
        if not self._left:
            _unlink(self.records.path)


def read_journals(work_dir: str) -> tuple[list[RunRecords], Optional[str]]:
    """Every journal under ``work_dir`` with its outstanding entries, without changing anything.

    Returns (journals, None), or ([], reason) when the directory cannot be read.
    """
    directory = journal_dir(work_dir)
    if fcntl is None:  # pragma: no cover
        return [], "journals need POSIX file locks"
    try:
        paths = _journal_files(directory)
    except OSError as error:
        return [], f"could not read {directory}: {error.strerror or error}"
    found: list[RunRecords] = []
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue
        except OSError as error:
            return found, f"could not read {path}: {error.strerror or error}"
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                alive = False
                fcntl.flock(fd, fcntl.LOCK_UN)
            except OSError:
                alive = True
            records = _read(fd, path, alive)
        finally:
            os.close(fd)
        if records.entries:
            found.append(records)
    return found, None


def _remove_unfinished(directory: str) -> None:
    """Files of runs that died between creating their journal and naming it (they hold no entry)."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return
    for name in names:
        if not (name.startswith(".") and name.endswith(".new")):
            continue
        path = os.path.join(directory, name)
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # its run is still creating it
        finally:
            os.close(fd)
        _unlink(path)


def _make_private_dir(directory: str) -> None:
    parent = os.path.dirname(directory)
    for path in (parent, directory):
        if not os.path.isdir(path):
            os.makedirs(path, mode=0o700, exist_ok=True)
            os.chmod(path, 0o700)  # makedirs' mode is reduced by the umask, never widened


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
