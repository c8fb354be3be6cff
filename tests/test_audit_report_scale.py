"""The audit report at scale and its focus views: rows in chunk scripts, the first view inline, boxes over the
photos, focus numbers and sorts, the class-map and suspicious-focus sections, and a 100 000-row run store
(synthetic, ``fake_store.py``) opened in a real headless browser."""

from __future__ import annotations

import json
import math
import re
import time
from pathlib import Path

import numpy as np
import pytest
from browser import open_report, visible_cards
from fake_store import fake_store

from saliencykit.audit import report as rp
from saliencykit.audit.cases import CASES
from saliencykit.audit.store import AuditStore
from saliencykit.files import write_image

XSS = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'


def _chunk_rows(path: Path) -> tuple[int, list[dict]]:
    text = path.read_text(encoding="ascii")
    match = re.fullmatch(r"saliencykitRows\((\d+),(.*)\);\n", text, re.S)
    assert match, text[:80]
    return int(match.group(1)), json.loads(json.loads(match.group(2)))


def _inline(html: str, block: str) -> object:
    match = re.search(rf'<script id="{block}" type="application/json">(.*?)</script>', html, re.S)
    assert match
    return json.loads(match.group(1))


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> tuple[Path, dict, list[dict]]:
    """A 600-row synthetic store (as this version's store holds it) and its summary and report rows."""
    out = tmp_path_factory.mktemp("small")
    fake_store(out, 600, seed=3)
    with AuditStore(out / "audit.sqlite") as store:
        summary, images = rp.summarize(store, out, "fake method", store.settings())
    return out, summary, images


def _with_focus(out: Path, summary: dict, images: list[dict]) -> tuple[dict, list[dict]]:
    """The issue-17 fields added by hand: boxes, focus numbers, reasons, class maps and the suspicious list."""
    rng = np.random.default_rng(0)
    rows = []
    for i, entry in enumerate(images):
        row = dict(entry)
        if i % 4 != 3:  # a quarter has no focus numbers at all (an image audited before them)
            row.update(oe=None if i % 4 == 2 else round(float(rng.random()), 3), bm=round(float(rng.random()), 3))
            row.update(oh=i % 2 == 0, cc=0.4, sp=None, mt={"deletion_auc": 0.25})
            row["sus"] = ["border"] if row["bm"] > 0.8 else []
            row["b"] = [[0.25, 0.1, 0.75, 0.6, XSS if i == 0 else "fish"]]
        rows.append(row)
    # malformed boxes must be skipped or clamped, not break the page
    rows[1]["b"] = [None, [0.1, "x", 0.5, 0.5, None], [-0.5, -0.5, 1.5, 2.0, None], [0.9, 0.9, 0.1, 0.1, None]]
    rows[5]["c"] = "a_future_case"
    (out / "classes").mkdir(exist_ok=True)
    class_maps = []
    for n, label in enumerate([XSS, "tench fish", "goldfish"]):
        stem = f"c{n} #{n}" if n == 1 else f"c{n}"  # a '#' in a file name must be URL-quoted
        write_image(out / "classes" / f"{stem}_mean.png", np.full((128, 128, 3), 60 * n, np.uint8))
        mistakes = None
        if n != 2:
            write_image(out / "classes" / f"{stem}_mistakes.png", np.full((128, 128, 3), 200, np.uint8))
            mistakes = f"classes/{stem}_mistakes.png"
        class_maps.append(
            {
                "class": n,
                "label": label,
                "images": 10 - n,
                "mistakes": 0 if mistakes is None else 3,
                "mean_map": f"classes/{stem}_mean.png",
                "mistakes_map": mistakes,
                "peak": [0.5, 0.25],
                "border_mass": 0.3 - 0.1 * n,
            }
        )
    late = rows[-1]  # in the last chunk: a jump to it waits for its rows
    suspicious = [
        {"key": late["k"], "case": late["c"], "label": late["p"], "reasons": ["border", "shared_peak"]},
        {"key": rows[0]["k"], "case": rows[0]["c"], "label": XSS, "reasons": ["outside_object"]},
    ]
    suspicious[0].update(border_mass=0.9, object_energy=None)
    suspicious[1].update(border_mass=0.2, object_energy=0.05)
    # an image the rows do not hold (failed since): its link says so
    suspicious.append({"key": "gone/x.jpg", "case": "", "label": "", "reasons": [], "border_mass": None})
    summary = {
        **summary,
        "class_maps": class_maps,
        "suspicious": suspicious,
        "suspicious_total": len(suspicious),
        "annotations": {"source": "boxes.json", "images_with_objects": 400},
    }
    return summary, rows


def test_a_small_report_is_one_file(tmp_path):
    fake_store(tmp_path, 300)
    with AuditStore(tmp_path / "audit.sqlite") as store:
        summary = rp.export(store, tmp_path, "fake", store.settings())
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert not (tmp_path / rp.CHUNK_FOLDER).exists()
    assert _inline(html, "audit-config") == {"files": [], "rows": summary["totals"]["done"], "page": rp.PAGE_ROWS}
    assert len(_inline(html, "audit-data")) == summary["totals"]["done"]  # type: ignore[arg-type]
    # the page's own script by hash, and what it adds ('strict-dynamic'): nothing else may run
    _, script, _, script_hash = rp._template()
    assert f"script-src '{script_hash}' 'strict-dynamic'\"" in html
    assert f"<script>{script}</script>" in html and "<script src" not in html
    # the store's focus data: a class map per predicted class, the suspicious images listed
    assert html.count('<tr class="class-map"') == len(summary["class_maps"]) > 0
    assert all((tmp_path / c["mean_map"]).is_file() for c in summary["class_maps"])
    assert html.count('class="jump"') == min(summary["suspicious_total"], rp.SUSPICIOUS_SHOWN) > 0
    # a summary written before the focus data (no such keys): no such sections, the rest as before
    old = {k: v for k, v in summary.items() if k not in ("class_maps", "suspicious", "suspicious_total")}
    html = rp.render_report(old, _inline(html, "audit-data"))  # type: ignore[arg-type]
    assert 'id="class-maps"' not in html and 'id="suspicious"' not in html and 'id="f-focus"' not in html


def test_large_report_inlines_each_cases_first_page_and_chunks_the_rest(small):
    out, summary, images = small
    page = rp.write_page(out, summary, images, chunk_rows=100)
    html = page.read_text(encoding="utf-8")
    head = _inline(html, "audit-data")
    config = _inline(html, "audit-config")
    files = sorted((out / rp.CHUNK_FOLDER).glob("rows-*.js"))
    assert config["files"] == [f"{rp.CHUNK_FOLDER}/{f.name}" for f in files]  # type: ignore[index]
    assert config["rows"] == len(images)  # type: ignore[index]
    assert len(files) == math.ceil((len(images) - len(head)) / 100)  # type: ignore[arg-type]
    chunked = []
    for index, file in enumerate(files):
        number, rows = _chunk_rows(file)
        assert number == index and 0 < len(rows) <= 100
        chunked += rows
    keys = [e["k"] for e in [*head, *chunked]]  # type: ignore[index, union-attr]
    assert sorted(keys) == sorted(e["k"] for e in images) and len(set(keys)) == len(images)
    for case in CASES:  # the default view (score, high first) is complete before any chunk arrives
        members = sorted((e for e in images if e["c"] == case), key=lambda e: (-e["ps"], e["k"]))
        first = {e["k"] for e in members[: rp.PAGE_ROWS]}
        assert first and first <= {e["k"] for e in head}  # type: ignore[index, union-attr]
    # written again with bigger chunks: the chunk files the page no longer names are gone, and so is what a
    # killed export left half-written
    (out / rp.CHUNK_FOLDER / ".rows-00003.js.k1ll3d").write_bytes(b"saliencykitRows(3,")
    rp.write_page(out, summary, images, chunk_rows=250)
    assert not list((out / rp.CHUNK_FOLDER).glob(".*"))
    assert len(list((out / rp.CHUNK_FOLDER).glob("rows-*.js"))) == math.ceil((len(images) - len(head)) / 250)
    rp.write_page(out, summary, images, chunk_rows=10_000)  # all inline: no folder left behind
    assert not (out / rp.CHUNK_FOLDER).exists()


def test_focus_views_render_escaped(small):
    out, summary, images = small
    summary, rows = _with_focus(out, summary, images)
    html = rp.render_report(summary, rows)
    assert 'id="class-maps"' in html and 'id="suspicious"' in html and "boxes.json" in html
    assert "window.__pwned" in html and "<script>window.__pwned" not in html  # text, never markup
    assert 'src="classes/c1%20%231_mean.png"' in html and "no mistakes" in html
    assert 'value="oe-asc"' in html and 'value="bm-desc"' in html and 'id="f-focus"' in html
    assert 'data-case="a_future_case"' in html and 'value="a_future_case"' in html  # an unknown case is filterable
    many = {**summary, "suspicious": summary["suspicious"] * rp.SUSPICIOUS_SHOWN, "suspicious_total": None}
    html = rp.render_report(many, rows)
    assert (
        html.count('class="jump"') == rp.SUSPICIOUS_SHOWN
        and f"and {len(many['suspicious']) - rp.SUSPICIOUS_SHOWN} more" in html
    )
    capped = rp.render_report({**many, "suspicious_total": 5000}, rows)  # summary.json lists the first 1000
    assert "and 4800 more" in capped and "suspicious focus (5000)" in capped
    empty = rp.render_report({**summary, "class_maps": [], "suspicious": [], "suspicious_total": 0}, rows)
    assert "No class maps" in empty and "None: no map looks off." in empty


@pytest.mark.slow
def test_focus_views_in_the_browser(small, tmp_path):
    out, summary, images = small
    summary, rows = _with_focus(out, summary, images)
    page_file = rp.write_page(out, summary, rows, chunk_rows=100)
    with open_report(page_file) as page:
        page.wait_for_function("() => window.saliencykitLoaded")
        assert page.evaluate("() => window.saliencykitLoaded.rows") == len(rows)
        assert page.text_content("#f-count") == f"{len(rows)} of {len(rows)} images shown"
        assert page.is_hidden("#loading")

        page.fill("#f-text", rows[0]["k"])
        card = page.query_selector("article.card")
        boxes = card.eval_on_selector_all(
            ".frame .box",
            "bs => bs.map(b => [b.style.left, b.style.top, b.style.width, b.style.height, b.textContent])",
        )
        assert boxes == [["25%", "10%", "50%", "50%", XSS]]
        text = card.text_content()
        assert "object energy" in text and "border mass" in text and "deletion_auc 0.25" in text

        page.fill("#f-text", rows[1]["k"])  # malformed boxes: dropped or clamped into the picture
        boxes = page.eval_on_selector_all(
            "article.card .frame .box", "bs => bs.map(b => [b.style.left, b.style.top, b.style.width, b.style.height])"
        )
        assert boxes == [["0%", "0%", "100%", "100%"], ["90%", "90%", "0%", "0%"]]

        page.click("#f-reset")  # the focus sorts over every row, the ones without the number last
        page.select_option("#f-sort", "oe-asc")
        for case in {c["case"] for c in visible_cards(page)}:
            cards = [c for c in visible_cards(page) if c["case"] == case]
            expected = sorted(
                (e for e in rows if e["c"] == case), key=lambda e: (e.get("oe") is None, e.get("oe") or 0, e["k"])
            )
            assert [c["key"] for c in cards] == [e["k"] for e in expected[: len(cards)]]
        page.select_option("#f-sort", "bm-desc")
        cards = [c for c in visible_cards(page) if c["case"] == "two_predictions"]
        best = max(e["bm"] for e in rows if e["c"] == "two_predictions" and e.get("bm") is not None)
        assert cards[0]["bm"] == best and [c["bm"] for c in cards] == sorted((c["bm"] for c in cards), reverse=True)

        page.select_option("#f-focus", "suspicious")
        shown = visible_cards(page)
        assert shown and all("border" in c["text"] for c in shown)
        assert page.text_content("#f-count").startswith(f"{sum(1 for e in rows if e.get('sus'))} of ")

        page.click("#f-reset")
        for box in page.query_selector_all("#f-cases input[name=case]"):
            box.set_checked(box.get_attribute("value") == "a_future_case")
        assert [c["key"] for c in visible_cards(page)] == [rows[5]["k"]]

        page.click("#f-reset")
        page.click(f"#suspicious a.jump[data-key='{rows[-1]['k']}']")  # a row from the last chunk
        target = page.query_selector("article.card.target")
        assert target and target.get_attribute("data-key") == rows[-1]["k"] and target.is_visible()

        page.click("#suspicious a.jump[data-key='gone/x.jpg']")
        assert "gone/x.jpg is not among the report's images" in page.text_content("#loading")
        assert page.get_attribute("#loading", "class") == "warn" and page.is_visible("#loading")

        pictures = page.eval_on_selector_all("#class-maps img", "is => is.map(i => i.getAttribute('src'))")
        assert len(pictures) == 5 and "classes/c1%20%231_mean.png" in pictures
        page.click("#class-maps a.only-class[data-class='goldfish']")
        assert page.input_value("#f-class") == "goldfish"
        page.eval_on_selector_all("#class-maps img", "is => is.forEach(i => { i.loading = 'eager'; })")
        page.wait_for_function(
            "() => Array.from(document.querySelectorAll('#class-maps img')).every(i => i.complete && i.naturalWidth)"
        )
        assert page.evaluate("() => window.__pwned") is None
        assert page.problems == []


@pytest.mark.slow
def test_missing_pictures_and_a_missing_chunk_do_not_break_the_page(tmp_path):
    fake_store(tmp_path, 1000, missing=True)
    with AuditStore(tmp_path / "audit.sqlite") as store:
        summary, images = rp.summarize(store, tmp_path, "fake", store.settings())
    page_file = rp.write_page(tmp_path, summary, images, chunk_rows=60)
    lost = tmp_path / rp.CHUNK_FOLDER / "rows-00001.js"
    lost_rows = len(_chunk_rows(lost)[1])
    lost.unlink()
    damaged = tmp_path / rp.CHUNK_FOLDER / "rows-00002.js"
    lost_rows += len(_chunk_rows(damaged)[1])
    damaged.write_text('saliencykitRows(2,"[{\\"k\\": broken");\n')
    with open_report(page_file) as page:
        page.wait_for_function("() => window.saliencykitLoaded")
        assert page.evaluate("() => window.saliencykitLoaded") == {
            "rows": len(images) - lost_rows,
            "ms": page.evaluate("() => window.saliencykitLoaded.ms"),
            "missing": 2,
        }
        warning = page.text_content("#loading")
        assert "report_files/rows-00001.js, report_files/rows-00002.js (damaged)" in warning
        assert f"{lost_rows} rows are missing" in warning
        assert page.get_attribute("#loading", "class") == "warn"
        page.eval_on_selector_all(".pics img", "is => is.forEach(i => { i.loading = 'eager'; })")
        page.wait_for_function("() => document.querySelectorAll('.pics figure.missing').length >= 20")
        assert "(file missing)" in page.evaluate(
            "() => getComputedStyle(document.querySelector('.pics figure.missing figcaption'), '::after').content"
        )
        page.select_option("#f-sort", "name")  # the page still works
        cards = visible_cards(page)
        for case in {c["case"] for c in cards}:
            keys = [c["key"] for c in cards if c["case"] == case]
            assert keys == sorted(keys)
        # the only problems are the files that are not there, reported by the browser, no script error
        assert not [
            p
            for p in page.problems
            if not ("nowhere/" in p or "missing_" in p or "rows-00001.js" in p or "Failed to load resource" in p)
        ]


@pytest.mark.slow
def test_a_100000_image_report_opens_in_under_3_seconds(tmp_path):
    start = time.perf_counter()
    fake_store(tmp_path, 100_000)
    generated = time.perf_counter()
    with AuditStore(tmp_path / "audit.sqlite") as store:
        summary, images = rp.summarize(store, tmp_path, "fake", store.settings())
        rp.write_page(tmp_path, summary, images)
    exported = time.perf_counter()
    size = (
        sum(f.stat().st_size for f in (tmp_path / rp.CHUNK_FOLDER).iterdir())
        + (tmp_path / "report.html").stat().st_size
    )
    with open_report(tmp_path / "report.html", wait="commit") as page:
        page.wait_for_selector("article.card")
        first = page.evaluate("() => window.saliencykitFirstView")
        page.wait_for_function("() => window.saliencykitLoaded", timeout=60_000)
        loaded = page.evaluate("() => window.saliencykitLoaded")
        cdp = page.context.new_cdp_session(page)
        cdp.send("Performance.enable")
        heap = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}["JSHeapUsedSize"]
        print(
            f"\n100 000-row store: generated {generated - start:.1f} s, exported {exported - generated:.1f} s, "
            f"{size / 1e6:.1f} MB; first rows {first} ms, all {loaded['rows']} rows in {loaded['ms']} ms more, "
            f"JS heap {heap / 1e6:.0f} MB"
        )
        assert first < 3000 and loaded == {"rows": len(images), "ms": loaded["ms"], "missing": 0}
        assert heap < 400e6
        assert page.text_content("#f-count") == f"{len(images)} of {len(images)} images shown"

        label = images[12_345]["g"]  # a class filter over every chunk
        expected = [e for e in images if label in (e["g"], e["p"]) or any(m[0] == label for m in e["m"])]
        page.select_option("#f-class", label)
        assert page.text_content("#f-count") == f"{len(expected)} of {len(images)} images shown"
        page.select_option("#f-sort", "score-asc")
        cards = visible_cards(page)
        for case in {c["case"] for c in cards}:
            lowest = min(e["ps"] for e in expected if e["c"] == case)
            assert [c for c in cards if c["case"] == case][0]["score"] == lowest
        page.click("#f-reset")
        page.fill("#f-text", images[-1]["k"])  # the very last row, from the last chunk
        assert [c["key"] for c in visible_cards(page)] == [images[-1]["k"]]
        page.fill("#f-min", "0.99")
        page.fill("#f-text", "")
        assert page.text_content("#f-count") == f"{sum(e['ps'] >= 0.99 for e in images)} of {len(images)} images shown"
        assert page.problems == []


def test_photo_paths_resolved_per_folder_match_report_source(tmp_path):
    from saliencykit.audit.outputs import report_source

    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    (tmp_path / "data" / "a b").mkdir(parents=True)
    photos = [tmp_path / "data" / "a b" / "x#1.jpg", out / "in_out.jpg", out / "sub" / "y.jpg"]
    for photo in photos:
        photo.write_bytes(b"jpeg")
    link = tmp_path / "data" / "link.jpg"
    link.symlink_to(out / "sub" / "y.jpg")  # a symlinked file still resolves to where it points
    (tmp_path / "linked").symlink_to(tmp_path / "data")  # so does a symlinked folder
    for path in [*photos, link, tmp_path / "linked" / "a b" / "x#1.jpg", tmp_path / "data" / "gone.jpg"]:
        assert rp._source(str(path), out) == report_source(path, out), path
    assert rp._source(str(link), out) == "sub/y.jpg" and rp._source(str(photos[1]), out) == "in_out.jpg"


@pytest.mark.parametrize("path", ["case/a_b-c.d~e.jpg", "C:/x/y.png", "a b/#1.jpg", "é/ü.png", "50%?.jpg", ""])
def test_report_urls_are_quoted_like_quote(path):
    from urllib.parse import quote

    assert rp._url(path) == quote(path, safe="/:")
