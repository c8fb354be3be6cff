"""Output files: one naming rule for per-input files and for classes, permissions of a normal write, safe CSV."""

from __future__ import annotations

import csv
import io
import os
import stat

import pytest

import saliencykit as sk
from saliencykit.files import atomic_write_bytes, csv_text, label_stems, unique_stems, write_csv


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_outputs_get_the_permissions_of_a_normal_write(tmp_path, umask):
    old = os.umask(umask)
    try:
        atomic_write_bytes(tmp_path / "report.html", b"<html></html>")
        with open(tmp_path / "plain.txt", "w") as f:
            f.write("x")
    finally:
        os.umask(old)
    ours = stat.S_IMODE((tmp_path / "report.html").stat().st_mode)
    plain = stat.S_IMODE((tmp_path / "plain.txt").stat().st_mode)
    assert ours == plain == 0o666 & ~umask


def test_no_temporary_file_is_left_when_a_write_fails(tmp_path):
    target = tmp_path / "folder_not_file"
    target.mkdir()
    with pytest.raises(OSError):
        atomic_write_bytes(target, b"data")  # a folder cannot be replaced by a file
    assert [p.name for p in tmp_path.iterdir()] == ["folder_not_file"]


def test_unique_stems_keep_every_input_apart():
    keys = ["a/photo.jpg", "b/photo.jpg", "cat.jpg", "cat.png", "Dog.jpg", "dog.jpg", "café.jpg", "cafe.jpg", "x.jpg"]
    stems = unique_stems(keys)
    assert len(set(s.casefold() for s in stems.values())) == len(keys)  # unique on case-insensitive disks too
    assert stems["x.jpg"] == "x"  # a name nobody shares stays as it is
    assert unique_stems(["b/photo.jpg", "a/photo.jpg"])["a/photo.jpg"] == stems["a/photo.jpg"]  # order-free


def test_label_stems_are_unique_for_imagenet_whose_names_repeat():
    names = sk.imagenet_labels()
    assert len(set(names)) < 1000  # 'crane' and 'maillot' appear twice
    stems = label_stems(names)
    assert len(set(stems)) == 1000
    assert stems[names.index("Samoyed")] == "Samoyed"
    cranes = [stems[i] for i, n in enumerate(names) if n == "crane"]
    assert cranes == [f"crane_{i}" for i, n in enumerate(names) if n == "crane"]


def test_label_stems_cover_classes_without_names():
    assert label_stems(["a", "b"], num_classes=4) == ["a", "b", "2", "3"]
    assert label_stems(["x/y", "x_y"]) == ["x_y_0", "x_y_1"]  # names that only differ before sanitising


def test_csv_cells_cannot_start_a_formula(tmp_path):
    rows = [["path", "score"], ["=cmd|calc!A0.jpg", -0.25], ["+1", 1], ["@SUM(A1)", "\tx"], ["-x", "\rx"]]
    write_csv(tmp_path / "out.csv", rows)
    back = list(csv.reader(io.StringIO((tmp_path / "out.csv").read_text())))
    assert back[1] == ["'=cmd|calc!A0.jpg", "-0.25"]  # numbers stay numbers
    for row in back[1:]:
        assert not any(cell.startswith(("=", "+", "@", "\t", "\r")) for cell in row)
    assert csv_text([["a,b", 'q"uote']]).strip() == '"a,b","q""uote"'
