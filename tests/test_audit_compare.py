"""`saliencykit audit compare`: two real audits of demo photos compared, where the test knows what must change.

Three audits with the demo model (about a second each):

- ``a``: the base data set: five photos stored at exactly 224 x 224 (the model's input size, so resizing leaves
  them untouched) and two at their own size, plus one file whose name is an HTML tag;
- ``b``: the same files under other preprocessing (nearest-neighbour resizing instead of bilinear): only the two
  photos that are resized can differ, the five others must be bit-identical (similarity 1);
- ``c``: ``a``'s preprocessing on a copy of the data in which two files differ: an off-centre crop flipped
  (its map must move) and one photo replaced by another class's photo (its top-1 must change).
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import re
import shutil
import sqlite3
from pathlib import Path
from urllib.parse import unquote

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

import saliencykit as sk
from saliencykit.audit import audit
from saliencykit.audit.compare import CompareError, compare, compare_runs, map_similarity
from saliencykit.cli import build_app
from saliencykit.cli.compare import routes_to_compare
from saliencykit.errors import OptionError
from saliencykit.labels import imagenet_wnids

compare_module = importlib.import_module("saliencykit.audit.compare")  # the module, whatever the package exports
WNID = imagenet_wnids()
HOSTILE = "<img src=x onerror=window.__pwned=1>.jpg"
AT_224 = {  # key -> (photo, crop box y0, y1, x0, x1): stored at 224 x 224
    f"{WNID[285]}/cat.jpg": ("chelsea", 0.0, 1.0, 0.0, 1.0),
    f"{WNID[285]}/cat_corner.jpg": ("chelsea", 0.4, 1.0, 0.4, 1.0),
    f"{WNID[967]}/coffee.jpg": ("coffee", 0.0, 1.0, 0.0, 1.0),
    f"{WNID[967]}/coffee_corner.jpg": ("coffee", 0.0, 0.6, 0.0, 0.6),
    f"{WNID[657]}/rocket_crop.jpg": ("rocket", 0.2, 0.8, 0.2, 0.8),
}
OWN_SIZE = {f"{WNID[657]}/rocket.jpg": "rocket", "moped/motorcycle.jpg": "stereo_motorcycle_left"}
FLIPPED, REPLACED = f"{WNID[967]}/coffee_corner.jpg", f"{WNID[657]}/rocket_crop.jpg"


def write_jpeg(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR))


def square(photo: np.ndarray, y0: float, y1: float, x0: float, x1: float) -> np.ndarray:
    h, w = photo.shape[:2]
    crop = photo[int(h * y0) : int(h * y1), int(w * x0) : int(w * x1)]
    return cv2.resize(crop, (224, 224), interpolation=cv2.INTER_AREA)


def build_data(folder: Path, photos: dict[str, np.ndarray]) -> Path:
    for key, (name, *box) in AT_224.items():
        write_jpeg(folder / key, square(photos[name], *box))
    for key, name in OWN_SIZE.items():
        write_jpeg(folder / key, photos[name])
    write_jpeg(folder / HOSTILE, square(photos["astronaut"], 0, 1, 0, 1))  # unlabelled, at the top level
    return folder


@pytest.fixture(scope="module")
def runs(tmp_path_factory, photos) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("compare")
    data = build_data(root / "data", photos)
    changed = root / "data-changed"
    shutil.copytree(data, changed)
    write_jpeg(changed / FLIPPED, square(photos["coffee"], 0.0, 0.6, 0.0, 0.6)[:, ::-1])
    write_jpeg(changed / REPLACED, square(photos["chelsea"], 0, 1, 0, 1))  # a cat where the rocket was
    nearest = dataclasses.replace(sk.demo.preprocess, resize="nearest")
    settings = dict(batch_size=8, raw=False, max_side=224)
    audit("demo", data, root / "a", **settings)
    audit("demo", data, root / "b", preprocess=nearest, **settings)
    audit("demo", changed, root / "c", **settings)
    return {"root": root, "a": root / "a", "b": root / "b", "c": root / "c", "data": data}


def by_key(comparison) -> dict[str, dict]:
    return {row["key"]: row for row in comparison.images}


# -- the comparisons ------------------------------------------------------------------------------------------------
def test_other_preprocessing_changes_only_the_photos_it_resizes(runs):
    comparison = compare(runs["a"], runs["b"], runs["root"] / "a-vs-b")
    rows = by_key(comparison)
    assert set(rows) == {*AT_224, *OWN_SIZE, HOSTILE} and comparison.summary["paired"] == 8
    for key in [*AT_224, HOSTILE]:  # at the model's size: the same input tensor, the same map
        row = rows[key]
        assert row["similarity"] == 1.0 and row["peak_shift"] == 0.0, key
        assert not row["changed"] and row["case_a"] == row["case_b"] and row["top1_a"] == row["top1_b"]
    for key in OWN_SIZE:  # resized by nearest instead of bilinear: the map is no longer bit-identical
        assert rows[key]["similarity"] < 0.99999, key
        assert not rows[key]["data_changed"]
    assert set(comparison.changed) <= set(OWN_SIZE)
    s = comparison.summary
    assert s["data_changed"] == 0 and s["only_a"] == s["only_b"] == 0
    [difference] = s["setting_differences"]  # the preprocessing, and nothing else
    assert difference["setting"] == "preprocess"
    assert "resize='linear'" in difference["a"] and "resize='nearest'" in difference["b"]
    similarities = [r["similarity"] for r in comparison.images]
    assert similarities == sorted(similarities)  # least similar first
    assert [r["key"] for r in comparison.images[:2]] and set(r["key"] for r in comparison.images[:2]) == set(OWN_SIZE)


def test_changed_files_are_exactly_the_ones_flagged(runs):
    out = runs["root"] / "a-vs-c"
    comparison = compare(runs["a"], runs["c"], out)
    rows = by_key(comparison)
    assert sorted(comparison.changed) == sorted([FLIPPED, REPLACED])
    flipped, replaced = rows[FLIPPED], rows[REPLACED]
    assert flipped["data_changed"] and replaced["data_changed"]
    assert flipped["map_moved"] and flipped["similarity"] < 0.3 and flipped["peak_shift"] > 0.25
    assert flipped["top1_a"] == flipped["top1_b"] == "espresso"
    assert replaced["top1_changed"] and replaced["top1_a"] == "missile" and replaced["top1_b"] == "Egyptian cat"
    assert replaced["case_changed"] and replaced["case_b"] == "false_positive_high_confidence"
    for key, row in rows.items():
        if key not in (FLIPPED, REPLACED):
            assert row["similarity"] == 1.0 and not any(row[f] for f in ("data_changed", "case_changed")), key
    s = comparison.summary
    assert (s["changed"], s["data_changed"], s["top1_changed"]) == (2, 2, 1) and s["map_moved"] in (1, 2)
    assert {"a": "true_positive_low_confidence", "b": "false_positive_high_confidence", "count": 1} in s[
        "case_transitions"
    ]
    assert s["setting_differences"] == []  # the data folder differs, which is not a setting

    stored = json.loads((out / "compare.json").read_text())
    assert stored["summary"]["changed"] == 2 and len(stored["images"]) == 8
    csv = (out / "compare.csv").read_text().splitlines()
    assert csv[0].startswith("key,changed,data_changed") and len(csv) == 9
    assert csv[1].startswith(FLIPPED) or csv[1].startswith(REPLACED)  # sorted by similarity ascending
    for row in stored["images"]:  # the overlays are found from the comparison folder
        for side in ("overlay_a", "overlay_b", "photo_a"):
            assert (out / unquote(row[side])).resolve().is_file(), row[side]
        assert (row["photo_b"] is not None) == (row["key"] in (FLIPPED, REPLACED))


def test_page_escapes_names_and_allows_only_its_own_script(runs):
    comparison = compare(runs["a"], runs["c"], runs["root"] / "page")
    html = (runs["root"] / "page" / "compare.html").read_text()
    assert HOSTILE not in html and "<img src=x" not in html
    policy = re.search(r'script-src \'(sha256-[^\']+)\'"', html)
    assert policy and "unsafe-inline" not in policy[0]
    data = json.loads(re.search(r'<script id="compare-data" type="application/json">(.*?)</script>', html, re.S)[1])
    assert HOSTILE in [d["key"] for d in data] and len(data) == comparison.summary["paired"]
    assert "http://" not in html and "https://" not in html


def test_page_of_a_large_comparison_keeps_every_change_and_the_least_similar_unchanged(runs, tmp_path, monkeypatch):
    monkeypatch.setattr(compare_module, "PAGE_UNCHANGED", 1)
    comparison = compare(runs["a"], runs["c"], tmp_path)
    html = (tmp_path / "compare.html").read_text()
    data = json.loads(re.search(r'<script id="compare-data" type="application/json">(.*?)</script>', html, re.S)[1])
    unchanged = [r["key"] for r in comparison.images if not r["changed"]]
    assert [d["key"] for d in data] == [*comparison.changed, unchanged[0]]
    assert "5 more unchanged image(s) are listed in compare.json" in html
    assert len(json.loads((tmp_path / "compare.json").read_text())["images"]) == 8


def test_unpaired_images_and_a_store_without_small_maps(runs, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(runs["c"], old)
    with sqlite3.connect(old / "audit.sqlite") as db:  # a store from before map32, one image fewer, one more
        db.execute("ALTER TABLE images DROP COLUMN map32")
        db.execute("DELETE FROM images WHERE key = ?", (f"{WNID[285]}/cat.jpg",))
        db.execute("UPDATE images SET key = 'extra/' || key WHERE key = ?", ("moped/motorcycle.jpg",))
    comparison = compare(runs["a"], old, tmp_path / "out")
    s = comparison.summary
    assert (s["paired"], s["only_a"], s["only_b"]) == (6, 2, 1)
    assert s["only_in_b"] == ["extra/moped/motorcycle.jpg"]
    assert sorted(s["only_in_a"]) == sorted([f"{WNID[285]}/cat.jpg", "moped/motorcycle.jpg"])
    assert s["without_similarity"] == 6 and s["similarity"]["median"] is None and s["map_moved"] == 0
    assert any("map32" in note for note in s["notes"])
    rows = by_key(comparison)
    assert rows[REPLACED]["similarity"] is None and rows[REPLACED]["map_moved"] is None
    assert rows[REPLACED]["top1_changed"] and "no small map in run B" in rows[REPLACED]["note"]
    assert sorted(comparison.changed) == sorted([FLIPPED, REPLACED])  # still found by their files
    assert "map32" in (tmp_path / "out" / "compare.html").read_text()


def test_a_damaged_small_map_costs_that_pair_its_similarity_only(runs, tmp_path):
    damaged = tmp_path / "damaged"
    shutil.copytree(runs["a"], damaged)
    with sqlite3.connect(damaged / "audit.sqlite") as db:
        db.execute("UPDATE images SET map32 = x'00ff' WHERE key = ?", (FLIPPED,))
    rows = by_key(compare(runs["a"], damaged, tmp_path / "out"))
    assert rows[FLIPPED]["similarity"] is None and "unreadable small map" in rows[FLIPPED]["note"]
    assert all(row["similarity"] == 1.0 for key, row in rows.items() if key != FLIPPED)


def test_map_similarity_of_flat_and_shifted_maps():
    m = np.zeros((32, 32), np.float32)
    m[2:8, 2:8] = 1
    assert map_similarity(m, m) == (1.0, 0.0)
    similarity, shift = map_similarity(m, np.roll(m, 16, axis=1))
    assert similarity < 0 and shift == pytest.approx(0.5)
    assert map_similarity(np.zeros((32, 32)), np.zeros((32, 32))) == (1.0, 0.0)
    assert map_similarity(m, np.zeros((32, 32))) == (0.0, None)


# -- bad inputs: refused with a message naming the input, nothing written ------------------------------------------
def refused(runs, run_a, run_b, out, match: str, error=CompareError) -> None:
    with pytest.raises(error, match=match):
        compare(run_a, run_b, out)


def test_bad_inputs_are_refused_before_anything_is_written(runs, tmp_path):
    a, b, out = runs["a"], runs["b"], tmp_path / "out"
    refused(runs, tmp_path / "missing", b, out, r"RUN_A .*missing: no such folder")
    (tmp_path / "file.txt").write_text("x")
    refused(runs, a, tmp_path / "file.txt", out, r"RUN_B .*file.txt is a file")
    refused(runs, a, runs["data"], out, r"RUN_B .*data is not an audit folder \(it holds no audit.sqlite\)")
    refused(runs, a, b / ".." / a.name, out, "the same folder")
    refused(runs, a, b, a, r"--out .* is RUN_A")
    refused(runs, a, b, b / "cmp", r"--out .* is inside RUN_B")
    refused(runs, a, b, tmp_path / "file.txt", r"--out .*file.txt is a file")
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "audit.sqlite").write_bytes(b"not a database at all" * 100)
    refused(runs, a, garbage, out, r"RUN_B .*garbage: cannot read audit.sqlite")
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    with sqlite3.connect(stranger / "audit.sqlite") as db:
        db.execute("CREATE TABLE notes (x TEXT)")
    refused(runs, stranger, b, out, r"RUN_A .*stranger: audit.sqlite is not a saliencykit audit store")
    other = tmp_path / "other"
    shutil.copytree(b, other)
    with sqlite3.connect(other / "audit.sqlite") as db:
        db.execute("UPDATE images SET key = 'elsewhere/' || key")
    refused(runs, a, other, out, r"have no image in common: were they audits of different data\?")
    with pytest.raises(OptionError, match="--min-similarity 2"):
        compare(a, b, out, min_similarity=2)
    with pytest.raises(OptionError, match="--max-peak-shift -0.1"):
        compare(a, b, out, max_peak_shift=-0.1)
    assert not out.exists()
    assert not list(b.glob("cmp*")) and not list(a.glob("compare.*"))


def test_runs_are_read_without_writing_to_them(runs, tmp_path):
    def state() -> dict:  # the -shm file is SQLite's shared-memory index, which readers update too
        files = [p for p in runs["a"].iterdir() if p.is_file() and p.suffix != ".sqlite-shm"]
        return {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in files}

    before = state()
    compare_runs(runs["a"], runs["b"], tmp_path)
    assert state() == before


# -- the command line -----------------------------------------------------------------------------------------------
def invoke(*args: str):
    return CliRunner().invoke(build_app(), list(args), env={"COLUMNS": "200"})


def test_command_line_compares_and_refuses_with_one_line_and_exit_2(runs, tmp_path):
    result = invoke("audit", "compare", str(runs["a"]), str(runs["c"]), "--out", str(tmp_path / "cmp"))
    assert result.exit_code == 0, result.output
    assert "2 changed" in result.output and "compare.html" in result.output
    assert (tmp_path / "cmp" / "compare.html").is_file()

    result = invoke("audit", "compare", str(runs["a"]), str(runs["a"]), "--out", str(tmp_path / "x"))
    assert result.exit_code == 2 and "the same folder" in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1  # one line
    result = invoke("audit", "compare", str(runs["a"]), str(runs["data"]), "--out", str(tmp_path / "x"))
    assert result.exit_code == 2 and "is not an audit folder" in result.output
    result = invoke(
        "audit", "compare", str(runs["a"]), str(runs["b"]), "--out", str(tmp_path / "x"), "--min-similarity", "3"
    )
    assert result.exit_code == 2 and "--min-similarity 3" in result.output
    assert not (tmp_path / "x").exists()


def test_help_lists_audit_compare_after_audit():
    listing = invoke("--help").output
    assert re.search(r"audit +Audit a classifier.*\n.*audit compare +Compare two audits of the same data", listing)
    assert "RUN_A and RUN_B are the --out folders" in invoke("audit", "compare", "--help").output


def test_audit_compare_routing_rule(runs, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    a, b = str(runs["a"]), str(runs["b"])
    assert routes_to_compare(["compare", a, b, "--out", "x"])
    assert routes_to_compare(["compare", "not-a-run", b])  # no file named compare here: the comparison's errors
    assert not routes_to_compare(["demo", "data", "--out", "x"])
    (tmp_path / "compare").mkdir()  # now `compare` could be a model or data folder
    assert routes_to_compare(["compare", a, b, "--out", "x"])
    assert not routes_to_compare(["compare", str(runs["data"]), "--out", "x"])
    result = invoke("audit", "compare", str(runs["data"]), "--out", str(tmp_path / "out"))
    assert result.exit_code == 2 and "compare: is a folder; pass the model file" in result.output  # the audit's


# -- the page in a real headless browser (as tests/test_audit_browser.py drives it) ---------------------------------
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.mark.slow
def test_page_in_a_browser_shows_the_changed_pairs_and_filters_them(runs, tmp_path):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    if sync_playwright is None or not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("playwright or Debian's chromium is missing (make browser)")
        pytest.skip("playwright or Debian's chromium is missing (make browser)")
    compare(runs["a"], runs["c"], tmp_path / "page")
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            page.on("console", lambda m: problems.append(f"console: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("requestfailed", lambda r: problems.append(f"failed request: {r.url}"))
            page.goto((tmp_path / "page" / "compare.html").as_uri())
            page.wait_for_load_state("load")

            def keys() -> list[str]:
                return page.evaluate(
                    "() => Array.from(document.querySelectorAll('#grid .card')).map(c => c.dataset.key)"
                )

            assert sorted(keys()) == sorted([FLIPPED, REPLACED])
            assert page.text_content("#count") == "2 of 8 image(s) match; showing 2."
            for box in ("data_changed", "status_changed", "case_changed", "top1_changed"):
                page.uncheck(f"#filters input[value={box}]")
            assert keys() == [FLIPPED]  # map moved only (the replaced photo's map may or may not have)
            for box in ("data_changed", "status_changed", "case_changed", "top1_changed"):
                page.check(f"#filters input[value={box}]")
            page.check("#f-unchanged")
            assert len(keys()) == 8 and HOSTILE in keys()
            pictures = "Array.from(document.querySelectorAll('.pics img'))"
            page.evaluate(f"() => {pictures}.forEach(i => {{ i.loading = 'eager'; }})")
            page.wait_for_function(f"() => {pictures}.every(i => i.complete)")
            assert page.evaluate(f"() => {pictures}.filter(i => !i.naturalWidth).map(i => i.src)") == []
            assert page.evaluate("() => window.__pwned") is None
            assert problems == []
        finally:
            browser.close()
