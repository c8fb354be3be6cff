"""How the audit report scales: a synthetic run store of --rows images (no model runs), exported and opened in
headless Chromium from disk.

Prints: the store's generation and export times, the report's size on disk (page and chunk files), the time to
the first rows on screen (the page's own clock from navigation start), the time until every row is loaded,
the page's JavaScript heap (CDP ``Performance.getMetrics`` JSHeapUsedSize) and DOM node count, and how long a
sort and a text filter over every row take, each for --rounds page loads (median).
Usage: python bench/report_scale.py [--rows 100000] [--rounds 3] [--out DIR]
Needs chromium and Playwright (`make browser`, the `dev` extra).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import BENCH

sys.path.insert(0, str(BENCH.parent / "tests"))

from browser import ARGS, CHROMIUM  # noqa: E402
from fake_store import fake_store  # noqa: E402

from saliencykit.audit import report as rp  # noqa: E402
from saliencykit.audit.store import AuditStore  # noqa: E402


def open_once(page_file: Path) -> dict[str, float]:
    """One cold page load: first rows, all rows, heap, nodes, and a sort and a filter over every row."""
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(page_file.as_uri(), wait_until="commit")
        page.wait_for_selector("article.card")
        first = page.evaluate("() => window.saliencykitFirstView")
        page.wait_for_function("() => window.saliencykitLoaded", timeout=120_000)
        loaded = page.evaluate("() => window.saliencykitLoaded")
        cdp = page.context.new_cdp_session(page)
        cdp.send("Performance.enable")
        metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
        start = time.perf_counter()
        page.select_option("#f-sort", "score-asc")
        sort = time.perf_counter() - start
        start = time.perf_counter()
        page.fill("#f-text", "img_0999")
        text = time.perf_counter() - start
        browser.close()
    if problems:
        raise SystemExit(f"the page reported problems: {problems[:5]}")
    return {
        "first_ms": first,
        "all_ms": first + loaded["ms"],
        "rows": loaded["rows"],
        "heap_mb": metrics["JSHeapUsedSize"] / 1e6,
        "nodes": metrics["Nodes"],
        "sort_ms": 1000 * sort,
        "filter_ms": 1000 * text,
    }


def add_focus(images: list[dict]) -> int:
    """Give rows without them the per-image focus keys (numbers, reasons, a box, metrics); return how many."""
    added = 0
    for i, row in enumerate(images):
        if "bm" not in row:
            oe = (i % 97) / 97 if i % 3 == 0 else None
            row.update(oe=oe, oh=None if oe is None else oe > 0.5, bm=(i % 89) / 89, cc=0.3, sp=None)
            row.update(sus=["border"] if i % 89 > 80 else [], mt=None)
            row["b"] = [[0.2, 0.1, 0.7, 0.8, row["g"]]] if oe is not None else []
            added += 1
    return added


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None, help="keep the store and report here")
    parser.add_argument(
        "--no-focus", dest="focus", action="store_false", help="do not add focus keys a store without them lacks"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        start = time.perf_counter()
        fake_store(out, args.rows)
        generated = time.perf_counter() - start
        start = time.perf_counter()
        with AuditStore(out / "audit.sqlite") as store:
            rp.export(store, out, "synthetic", store.settings())
            exported = time.perf_counter() - start
            if args.focus:
                summary, images = rp.summarize(store, out, "synthetic", store.settings())
                added = add_focus(images)
                rp.write_page(out, summary, images)
                if added:
                    print(f"the store has no focus data: the issue-17 per-image keys were added to {added} rows")
        page = out / "report.html"
        chunks = sorted((out / rp.CHUNK_FOLDER).glob("rows-*.js")) if (out / rp.CHUNK_FOLDER).is_dir() else []
        print(f"store: {args.rows} rows generated in {generated:.1f} s; export (summary, CSV, report) {exported:.1f} s")
        print(
            f"report: page {page.stat().st_size / 1e3:.0f} kB + {len(chunks)} chunk files "
            f"{sum(c.stat().st_size for c in chunks) / 1e6:.1f} MB"
        )
        runs = [open_once(page) for _ in range(args.rounds)]
        med = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        print(
            f"chromium, median of {args.rounds} cold loads: first rows on screen {med['first_ms']:.0f} ms, "
            f"all {med['rows']:.0f} rows loaded {med['all_ms']:.0f} ms, JS heap {med['heap_mb']:.0f} MB, "
            f"{med['nodes']:.0f} DOM nodes; sort over all rows {med['sort_ms']:.0f} ms, text filter "
            f"{med['filter_ms']:.0f} ms (both including Playwright's round trip)"
        )


if __name__ == "__main__":
    main()
