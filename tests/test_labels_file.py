"""Labels files: line N names class N - 1, no line is ever dropped, and every problem names the line."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import saliencykit as sk
from saliencykit.errors import TargetError
from saliencykit.labels import check_label_count, label_index, label_of, parse_labels, read_labels

TEN = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def test_a_blank_line_no_longer_shifts_every_later_class(tmp_path):
    """A blank line 4 used to be dropped: 'seven' became class 6 and 'eight' class 7, and the audit went wrong."""
    lines = TEN[:3] + [""] + TEN[4:]
    path = tmp_path / "labels.txt"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(TargetError, match=r"line 4 is blank") as info:
        read_labels(path)
    assert str(path) in str(info.value) and "class 3" in str(info.value)


def test_a_comment_line_no_longer_shifts_every_later_class(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text("\n".join(TEN[:5] + ["# the rest"] + TEN[6:]))
    with pytest.raises(TargetError, match=r"line 6 starts with '#'"):
        read_labels(path)


def test_names_land_at_their_line(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text("\n".join(TEN) + "\n\n\n")  # trailing blank lines are not classes
    names = read_labels(path)
    assert names == TEN
    assert label_index("seven", names) == 7 and label_of(8, names) == "eight"
    path.write_bytes(("\ufeff" + "\r\n".join(["  tench ", "goldfish", "great white shark"])).encode())
    assert read_labels(path) == ["tench", "goldfish", "great white shark"]  # BOM, CRLF, spaces


def test_indexed_form(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text("0 tench\n1: goldfish\n2\t#hashtag\n3   great white shark\n")
    assert read_labels(path) == ["tench", "goldfish", "#hashtag", "great white shark"]
    path.write_text("0 tench\n2 goldfish\n")
    with pytest.raises(TargetError, match=r"line 2 starts with index 2, expected 1"):
        read_labels(path)
    path.write_text("1 tench\n2 goldfish\n")  # one-based: refused rather than shifted
    with pytest.raises(TargetError, match=r"line 1 starts with index 1, expected 0"):
        read_labels(path)
    path.write_text("10 km/h\nstop\n")  # not every line is indexed: plain names
    assert read_labels(path) == ["10 km/h", "stop"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty labels file"),
        (b"\n\n  \n", "empty labels file"),
        (b"cat\ndog\x00\x01\x02", "line 2 holds a NUL byte"),
        (b"cat\n\xff\xfe\xfa\n", "line 2 is not UTF-8"),
        (b"cat\n\x1b[31mdog\n", "line 2 holds the control character"),
    ],
    ids=["empty", "only-blank", "binary", "latin-1", "control-char"],
)
def test_files_that_are_not_label_lists(tmp_path, content, message):
    path = tmp_path / "labels.txt"
    path.write_bytes(content)
    with pytest.raises(TargetError, match=message) as info:
        read_labels(path)
    assert str(path) in str(info.value)


def test_missing_folder_and_unreadable(tmp_path):
    with pytest.raises(TargetError, match="no such labels file"):
        read_labels(tmp_path / "missing.txt")
    with pytest.raises(TargetError, match="a folder, not a labels file"):
        read_labels(tmp_path)
    with pytest.raises(TargetError, match="not a regular file"):
        read_labels("/dev/zero")


def test_check_label_count():
    check_label_count(TEN, 10)
    with pytest.raises(TargetError, match=r"5 class names for a model with 10 classes; classes 5 to 9"):
        check_label_count(TEN[:5], 10, "labels.txt")
    with pytest.raises(TargetError, match=r"12 class names for a model with 10 classes; lines 11 to 12"):
        check_label_count(TEN + ["ten", "eleven"], 10, "labels.txt")
    with pytest.raises(TargetError, match=r"header line\?"):
        check_label_count(["name"] + TEN, 10, "labels.txt")


def test_builtin_imagenet_lists_are_unchanged():
    labels = sk.imagenet_labels()
    assert len(labels) == 1000 and labels[0] == "tench" and labels.count("crane") == 2
    assert sk.labels.imagenet_wnids()[0] == "n01440764"


# ------------------------------------------------------------------------------------------ properties

NAME = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=20).filter(
    lambda s: s.strip() and not s.strip().startswith("#") and s.strip() == s
)


@settings(max_examples=200, deadline=None)
@given(names=st.lists(NAME, min_size=1, max_size=30), trailing=st.integers(0, 3), crlf=st.booleans())
def test_names_are_read_back_at_their_index(names, trailing, crlf):
    text = ("\r\n" if crlf else "\n").join(names) + "\n" * trailing
    try:
        parsed = parse_labels(text.encode(), "labels.txt")
    except TargetError as exc:  # only when every line looks like "index name" with wrong indices
        assert "starts with index" in str(exc)
        return
    if len(parsed) == len(names) and parsed != names:  # read in the "index name" form: index i on line i
        assert all(name.split(maxsplit=1)[0].rstrip(":") == str(i) for i, name in enumerate(names))
    else:
        assert parsed == names


@settings(max_examples=200, deadline=None)
@given(names=st.lists(NAME, min_size=2, max_size=30), data=st.data())
def test_a_blank_line_inside_is_reported_at_its_line_never_shifted(names, data):
    where = data.draw(st.integers(1, len(names) - 1))
    lines = names[:where] + [data.draw(st.sampled_from(["", " ", "\t"]))] + names[where:]
    with pytest.raises(TargetError, match=rf"line {where + 1} is blank"):
        parse_labels("\n".join(lines).encode(), "labels.txt")
