"""The REPL's input data as files: one read-only file per distinct input in a process.

Training runs many rollouts over one big context at once (Oolong: up to millions of
characters, 64 rollouts in flight). Encoding it and writing a copy into every sandbox costs
each rollout a pass over the text and the disk one copy per rollout. Instead the host writes
each distinct input once, named by its content's digest, and each sandbox gets it as a
link (rlm_env.repl.sandbox.LocalSandbox) or an upload (a remote runtime).

An input seen before *as the same object* (loaders cache their contexts, so concurrent
rollouts over one context share one) is found without encoding it again; other inputs are
encoded and, when their bytes match a file already written, share that file.
"""

import atexit
import hashlib
import os
import shutil
import tempfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

from rlm_env.repl.worker import clean_text, encode

KEEP_INPUTS = 16
"""Inputs remembered at once; an older one's file is deleted (sandboxes holding a link keep theirs)."""


def encode_input(data: Any) -> tuple[str, bytes]:
    """The file name and bytes the worker loads `data` from (.txt: a str; .json: anything else)."""
    if isinstance(data, str):
        return "extra_data.txt", clean_text(data)[0].encode("utf-8")
    return "extra_data.json", encode(data)[:-1]


class InputFiles:
    """Content-addressed input files in one private folder, removed at exit."""

    def __init__(self, keep: int = KEEP_INPUTS) -> None:
        self.keep = keep
        self._folder: Path | None = None
        # id(data) -> (data, file): holding `data` keeps its id from being reused by another object.
        self._seen: OrderedDict[int, tuple[Any, Path]] = OrderedDict()

    def file_for(self, data: Any) -> Path:
        """The read-only file holding `data`, written on first use.

        The file stays until `keep` newer inputs have been asked for, so a caller must link or
        read it before its next await.
        """
        seen = self._seen.get(id(data))
        if seen is not None and seen[0] is data:
            self._seen.move_to_end(id(data))
            return seen[1]
        name, payload = encode_input(data)
        path = self._folder_path() / f"{hashlib.sha256(payload).hexdigest()[:32]}-{name}"
        if not path.exists():
            partial = path.with_suffix(".partial")
            partial.write_bytes(payload)
            partial.chmod(0o444)
            partial.rename(path)  # atomic: a reader never sees half a file
        if seen is not None:  # a dead object's id, reused
            self._forget(id(data))
        self._seen[id(data)] = (data, path)
        while len(self._seen) > self.keep:
            self._forget(next(iter(self._seen)))
        return path

    def _forget(self, key: int) -> None:
        _, path = self._seen.pop(key)
        if all(kept != path for _, kept in self._seen.values()):
            path.unlink(missing_ok=True)

    def _folder_path(self) -> Path:
        if self._folder is None or not self._folder.is_dir():
            self._folder = Path(tempfile.mkdtemp(prefix="rlm-inputs-"))
            self._folder.chmod(0o755)  # a sandbox's dropped uid reads through its links
            atexit.register(shutil.rmtree, self._folder, True)
        return self._folder


def link_or_copy(source: Path, target: Path, *, share: bool) -> None:
    """Make `target` hold `source`'s bytes: a hard link when `share` (the reader cannot write
    through it) and the file system allows, a copy otherwise."""
    if share:
        try:
            os.link(source, target)
            return
        except OSError:
            pass  # another file system, or links refused: copy
    shutil.copyfile(source, target)
    target.chmod(0o444)


INPUT_FILES = InputFiles()
"""The process's input files, shared by every ReplSession."""
