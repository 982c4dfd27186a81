"""The REPL's input data as files: one read-only file per distinct input in a process.

Training runs many rollouts over one big context at once (Oolong: up to millions of
characters, 64 rollouts in flight). Encoding it and writing a copy into every sandbox costs
each rollout a pass over the text and the disk one copy per rollout. Instead the host writes
each distinct input once, named by its content's digest, and each sandbox gets it as a
link (rlm_env.repl.sandbox.LocalSandbox) or an upload (a remote runtime).

A text seen before *as the same object* (loaders cache their contexts, so concurrent
rollouts over one context share one str) is found without encoding it again; other inputs are
encoded each time (a dict may have changed in place) and, when their bytes match a file already
written, share that file.
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
        self._files: OrderedDict[Path, None] = OrderedDict()
        """The files written, least recently asked for first."""
        # id(text) -> (text, file) for str inputs: a str cannot change, and holding it keeps its id
        # from being reused. Other inputs (dicts, lists) may be changed in place, so they are
        # encoded every time and found by their bytes.
        self._texts: dict[int, tuple[str, Path]] = {}

    def file_for(self, data: Any) -> Path:
        """The read-only file holding `data`, written on first use.

        The file stays until `keep` newer files have been asked for, so a caller must link or
        read it before its next await.
        """
        known = self._texts.get(id(data)) if isinstance(data, str) else None
        if known is not None:
            self._files.move_to_end(known[1])
            return known[1]
        name, payload = encode_input(data)
        path = self._folder_path() / f"{hashlib.sha256(payload).hexdigest()[:32]}-{name}"
        if path not in self._files:
            partial = path.with_suffix(".partial")
            partial.write_bytes(payload)
            partial.chmod(0o444)
            partial.rename(path)  # atomic: a reader never sees half a file
        self._files[path] = None
        self._files.move_to_end(path)
        if isinstance(data, str):
            self._texts[id(data)] = (data, path)
        while len(self._files) > self.keep:
            old, _ = self._files.popitem(last=False)
            old.unlink(missing_ok=True)
            self._texts = {key: entry for key, entry in self._texts.items() if entry[1] != old}
        return path

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
