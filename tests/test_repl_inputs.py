"""Input files: one per distinct input in a process, shared between sandboxes only where the
cell cannot write through the link (the attack on it is in tests/test_repl_attacks.py)."""

import shutil

import pytest

from conftest import open_repl, run
from rlm_env.repl import inputs
from rlm_env.repl.inputs import InputFiles


def test_the_same_object_is_encoded_once_and_equal_bytes_share_a_file(monkeypatch):
    store, encoded = InputFiles(), []
    real_encode = inputs.encode_input
    monkeypatch.setattr(inputs, "encode_input", lambda data: encoded.append(data) or real_encode(data))
    context = "x" * 10_000
    first = store.file_for(context)
    assert store.file_for(context) == first and len(encoded) == 1
    assert store.file_for("".join(["x"] * 10_000)) == first  # equal text, another object: same file
    assert first.read_text() == context and first.name.endswith("-extra_data.txt")
    as_json = store.file_for({"rows": [1, 2]})
    assert as_json.suffix == ".json" and as_json.read_text() == '{"rows":[1,2]}'
    assert first.stat().st_mode & 0o777 == 0o444


def test_the_oldest_file_goes_once_keep_newer_ones_were_asked_for():
    store = InputFiles(keep=2)
    a, b = "a" * 100, "b" * 100
    path_a, path_b = store.file_for(a), store.file_for(b)
    assert store.file_for("".join(["b"] * 100)) == path_b  # equal bytes: one file, counted once
    assert path_a.exists()
    path_c = store.file_for("c" * 100)
    assert not path_a.exists() and path_b.exists() and path_c.exists()
    assert store.file_for(a) == path_a and path_a.read_text() == a  # asked again: written again
    assert not path_b.exists()


def test_an_input_changed_in_place_gets_a_file_of_its_new_content():
    store, rows = InputFiles(), {"rows": [1]}
    before = store.file_for(rows)
    rows["rows"].append(2)  # a dict is not remembered by identity: it is encoded each time
    after = store.file_for(rows)
    assert after != before and after.read_text() == '{"rows":[1,2]}'


@pytest.mark.parametrize("backend", ["bwrap", "none"])
def test_bubblewrap_sandboxes_share_one_copy_and_unshared_ones_get_their_own(backend):
    if backend == "bwrap" and shutil.which("bwrap") is None:
        pytest.skip("bubblewrap is not installed")
    context = "record 1\n" * 50_000

    async def scenario():
        async with open_repl(backend, extra_data=context) as first, open_repl(backend, extra_data=context) as second:
            files = [repl.host.input_dir / "extra_data.txt" for repl in (first, second)]
            inodes = {path.stat().st_ino for path in files}
            outputs = [(await repl.execute("len(extra_data)")).output for repl in (first, second)]
            return first.host.uid, inodes, outputs

    uid, inodes, outputs = run(scenario())
    assert outputs == ["450000\n"] * 2
    # Without bubblewrap a cell that kept the host's uid could write through a shared link.
    assert len(inodes) == (1 if backend == "bwrap" or uid is not None else 2)
