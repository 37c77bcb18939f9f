"""The stdlib byte corpus: a fixed file list, a deterministic split by file, next-byte windows,
bits per byte, and clear errors for missing files and bad arguments."""

from __future__ import annotations

import math
import sysconfig
from pathlib import Path
from typing import Any

import pytest
import torch

from symtune.studies.text import (
    BYTE_VOCAB_SIZE,
    STDLIB_FILES,
    TextCorpus,
    bits_per_byte,
    fixed_windows,
    load_stdlib_corpus,
    random_windows,
)

STDLIB = Path(sysconfig.get_path("stdlib"))
REMOVED = {  # removed in 3.11-3.13 (PEP 594 and before): never in the list
    *("asynchat", "asyncore", "smtpd", "imp", "distutils", "lib2to3", "aifc", "audioop", "cgi"),
    *("cgitb", "chunk", "crypt", "imghdr", "mailcap", "msilib", "nis", "nntplib", "ossaudiodev"),
    *("pipes", "sndhdr", "spwd", "sunau", "telnetlib", "uu", "xdrlib"),
}


@pytest.fixture(scope="module")
def corpus() -> TextCorpus:
    return load_stdlib_corpus()


def test_the_file_list_is_fixed_sorted_and_free_of_removed_modules():
    assert list(STDLIB_FILES) == sorted(set(STDLIB_FILES))
    assert 150 <= len(STDLIB_FILES) <= 300
    assert all(name.endswith(".py") and not name.startswith("/") for name in STDLIB_FILES)
    tops = {name.split("/")[0].removesuffix(".py") for name in STDLIB_FILES}
    assert not tops & REMOVED
    assert {"argparse", "difflib", "json", "email"} <= tops
    assert all((STDLIB / name).is_file() for name in STDLIB_FILES)


def test_the_split_is_by_file_and_holds_every_file_once(corpus: TextCorpus):
    parts = (corpus.train_files, corpus.val_files, corpus.test_files)
    assert sorted(sum(parts, ())) == list(STDLIB_FILES)
    assert [len(p) for p in parts] == [227, 28, 28]  # int(283 * 0.1) = 28 each
    assert all(list(p) == sorted(p) for p in parts)
    for files, data in zip(parts, (corpus.train, corpus.val, corpus.test), strict=True):
        expected = b"".join((STDLIB / name).read_bytes() for name in files)
        assert data.dtype == torch.uint8 and data.dim() == 1
        assert bytes(data.numpy()) == expected


def test_the_corpus_is_a_few_megabytes_and_names_its_source(corpus: TextCorpus):
    summary = corpus.summary()
    assert 3_000_000 < sum(summary["bytes"].values()) < 10_000_000
    assert corpus.train.numel() > 3_000_000
    assert min(corpus.val.numel(), corpus.test.numel()) > 100_000
    assert summary["python_version"] == corpus.python_version != ""
    assert summary["stdlib_path"] == str(STDLIB) and summary["seed"] == 0
    assert summary["files"] == {"train": 227, "val": 28, "test": 28}
    assert corpus.split("val") is corpus.val
    with pytest.raises(ValueError, match="'train', 'val' or 'test', but got 'valid'"):
        corpus.split("valid")


def test_the_split_is_deterministic_by_seed_and_fractions(corpus: TextCorpus):
    again = load_stdlib_corpus(seed=0)
    assert again.val_files == corpus.val_files and torch.equal(again.train, corpus.train)
    other = load_stdlib_corpus(seed=1)
    assert other.val_files != corpus.val_files
    no_test = load_stdlib_corpus(val_fraction=0.2, test_fraction=0.0)
    assert len(no_test.val_files) == 56 and no_test.test_files == ()
    assert no_test.test.dtype == torch.uint8 and no_test.test.numel() == 0
    one_train = load_stdlib_corpus(val_fraction=0.5, test_fraction=0.5)  # 141 + 141 of 283
    assert len(one_train.train_files) == 1


def _tree(tmp_path: Path, drop: set[str]) -> Path:
    """A stand-in for a CPython Lib/ folder: links to the stdlib files, less ``drop``."""
    for name in STDLIB_FILES:
        if name not in drop:
            target = tmp_path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(STDLIB / name)
    return tmp_path


def test_root_reads_another_folder(tmp_path: Path, corpus: TextCorpus):
    loaded = load_stdlib_corpus(root=_tree(tmp_path, set()))
    assert loaded.stdlib_path == str(tmp_path)
    assert loaded.test_files == corpus.test_files and torch.equal(loaded.test, corpus.test)


def test_a_missing_file_is_an_error_naming_it_the_folder_and_the_fix(tmp_path: Path):
    root = _tree(tmp_path, {"json/decoder.py"})
    with pytest.raises(FileNotFoundError) as caught:
        load_stdlib_corpus(root=root)
    message = str(caught.value)
    assert "1 are missing" in message and "json/decoder.py" in message
    assert repr(str(root)) in message and "`root=`" in message and "Lib/" in message
    with pytest.raises(FileNotFoundError, match=r"283 are missing .* and 278 more"):
        load_stdlib_corpus(root=tmp_path / "json")
    with pytest.raises(NotADirectoryError, match="is not a folder"):
        load_stdlib_corpus(root=tmp_path / "nowhere")


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"val_fraction": 0.0}, ValueError, "`0 < val_fraction < 1` must hold, but got val"),
        ({"val_fraction": 1.0}, ValueError, "val_fraction=1.0 .load_stdlib_corpus."),
        ({"test_fraction": -0.1}, ValueError, "`0 <= test_fraction < 1` must hold"),
        ({"val_fraction": 0.001}, ValueError, "at least one file, .* 0 validation"),
        ({"test_fraction": 0.001}, ValueError, "255 training, 28 validation and 0 test"),
        ({"val_fraction": 0.6, "test_fraction": 0.5}, ValueError, "give -27 training, 169 val"),
        ({"val_fraction": "0.1"}, TypeError, "`val_fraction` must be a number, but got str"),
        ({"seed": -1}, ValueError, r"`0 <= seed < 2\*\*32` must hold, but got seed=-1"),
        ({"seed": 2**32}, ValueError, r"seed < 2\*\*32"),
        ({"seed": 1.0}, TypeError, "`seed` must be an int, but got float 1.0"),
        ({"seed": True}, TypeError, "`seed` must be an int, but got bool"),
        ({"root": 3}, TypeError, "`root` must be a path .* but got int 3"),
    ],
)
def test_bad_corpus_options_are_refused(kwargs: dict[str, Any], error: type, message: str):
    with pytest.raises(error, match=message):
        load_stdlib_corpus(**kwargs)


def test_random_windows_are_next_byte_pairs_from_the_data():
    data = torch.randint(0, BYTE_VOCAB_SIZE, (1000,), dtype=torch.uint8)
    inputs, targets = random_windows(data, 16, 8, torch.Generator().manual_seed(0))
    assert inputs.shape == targets.shape == (8, 16)
    assert inputs.dtype == targets.dtype == torch.int64
    assert torch.equal(inputs[:, 1:], targets[:, :-1])
    for row, target in zip(inputs, targets, strict=True):
        windows = data.long().unfold(0, 17, 1)  # every window of 17 bytes
        match = (windows[:, :-1] == row).all(dim=1) & (windows[:, -1] == target[-1])
        assert match.any()
    again = random_windows(data, 16, 8, torch.Generator().manual_seed(0))
    assert torch.equal(again[0], inputs) and torch.equal(again[1], targets)
    last = random_windows(torch.arange(5, dtype=torch.uint8), 4, 3)  # one window only
    assert last[0].tolist() == [[0, 1, 2, 3]] * 3 and last[1].tolist() == [[1, 2, 3, 4]] * 3


def test_fixed_windows_are_the_same_every_call(corpus: TextCorpus):
    inputs, targets = fixed_windows(corpus.val, 64, 32)
    assert inputs.shape == targets.shape == (32, 64) and inputs.dtype == torch.int64
    assert torch.equal(inputs[:, 1:], targets[:, :-1])
    again = fixed_windows(corpus.val, 64, 32)
    assert torch.equal(again[0], inputs) and torch.equal(again[1], targets)
    assert not torch.equal(fixed_windows(corpus.val, 64, 32, seed=1)[0], inputs)
    assert int(inputs.max()) < BYTE_VOCAB_SIZE


DATA = torch.zeros(10, dtype=torch.uint8)


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        ((DATA, 0, 2), ValueError, r"`context >= 1` must hold, but got context=0 .random_windows"),
        ((DATA, 4, 0), ValueError, "`batch_size >= 1` must hold, but got batch_size=0"),
        ((DATA, 2.0, 2), TypeError, "`context` must be an int, but got float 2.0"),
        ((DATA, 10, 2), ValueError, r"`len\(data\) >= context \+ 1` .* len\(data\)=10, cont"),
        ((DATA.long(), 4, 2), ValueError, "1-D uint8 tensor .* dtype torch.int64"),
        ((DATA.view(2, 5), 4, 2), ValueError, r"shape \(2, 5\)"),
        ((b"abcdef", 4, 2), TypeError, "must be a 1-D uint8 torch.Tensor .* but got bytes"),
        ((DATA, 4, 2, 0), TypeError, "`generator` must be a torch.Generator or None, but got int"),
    ],
)
def test_bad_random_window_arguments_are_refused(args: tuple, error: type, message: str):
    with pytest.raises(error, match=message):
        random_windows(*args)


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        ((DATA, 4, 0), ValueError, r"`n >= 1` must hold, but got n=0 .fixed_windows"),
        ((DATA, 4, 2, -1), ValueError, "`seed >= 0` must hold, but got seed=-1"),
        ((DATA, 4, 2, 2**63), ValueError, r"`0 <= seed < 2\*\*63`"),
        ((DATA, 4, 2, "0"), TypeError, "`seed` must be an int, but got str"),
        ((DATA, 20, 2), ValueError, "len.data.=10, context=20 .fixed_windows"),
    ],
)
def test_bad_fixed_window_arguments_are_refused(args: tuple, error: type, message: str):
    with pytest.raises(error, match=message):
        fixed_windows(*args)


def test_bits_per_byte_divides_nats_by_ln_2():
    assert bits_per_byte(math.log(2)) == pytest.approx(1.0)
    assert bits_per_byte(0) == 0.0
    logits = torch.zeros(4, BYTE_VOCAB_SIZE)  # uniform over bytes: exactly 8 bits a byte
    loss = torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1, 2, 3]))
    assert bits_per_byte(loss).item() == pytest.approx(8.0)
    with pytest.raises(TypeError, match=r"floating-point tensor, but got dtype torch\.int64"):
        bits_per_byte(torch.tensor(1))
    with pytest.raises(TypeError, match="a number or a tensor, but got str '1'"):
        bits_per_byte("1")
