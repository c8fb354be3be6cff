"""The audit report of a real audit opened from disk in a real headless browser (see ``browser.py``)."""

from __future__ import annotations

import pytest
from browser import open_report, visible_cards

import saliencykit as sk
from saliencykit.audit import audit, demo_dataset

XSS = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'


pytestmark = pytest.mark.slow  # end-to-end runs: left out by `make test-fast`


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("browser")
    data = demo_dataset(folder / "data")
    (data / "moped" / "broken.jpg").write_bytes(b"\xff\xd8 broken")
    labels = sk.imagenet_labels()
    labels[540] = XSS
    result = audit("demo", data, folder / "out", label_names=labels)
    return result.out / "report.html"


@pytest.fixture(scope="module")
def page(report):
    with open_report(report) as page:
        yield page


def reset(page) -> None:
    page.click("#f-reset")


def test_images_load_without_console_errors(page):
    pictures = "Array.from(document.querySelectorAll('.pics img'))"
    page.evaluate(f"() => {pictures}.forEach(i => {{ i.loading = 'eager'; }})")
    page.wait_for_function(f"() => {pictures}.every(i => i.complete)")
    broken = page.evaluate(f"() => {pictures}.filter(i => !i.naturalWidth).map(i => i.src)")
    assert broken == []
    assert page.evaluate("() => document.querySelectorAll('.pics img').length") >= 20 + 20  # photos + maps
    assert page.problems == []


def test_filters_change_what_is_shown(page):
    reset(page)
    assert len(visible_cards(page)) == 20
    assert page.text_content("#f-count") == "20 of 20 images shown"
    for box in page.query_selector_all("#f-cases input[name=case]"):
        if box.get_attribute("value") != "false_positive_high_confidence":
            box.uncheck()
    cards = visible_cards(page)
    assert [c["key"] for c in cards] == ["n02124075/coffee_filed_as_cat.jpg"]
    assert "ground truth: Egyptian cat" in cards[0]["text"] and "predicted: espresso" in cards[0]["text"]

    reset(page)
    page.select_option("#f-class", "espresso")
    cards = visible_cards(page)
    assert 5 <= len(cards) < 20 and all("espresso" in c["text"] for c in cards)

    reset(page)
    page.fill("#f-min", "0.9")
    cards = visible_cards(page)
    assert cards and all(c["score"] >= 0.9 for c in cards) and len(cards) < 20

    reset(page)
    page.select_option("#f-sort", "score-asc")
    cards = [c for c in visible_cards(page) if c["case"] == "true_positive_high_confidence"]
    assert [c["score"] for c in cards] == sorted(c["score"] for c in cards)
    page.select_option("#f-sort", "score-desc")
    cards = [c for c in visible_cards(page) if c["case"] == "true_positive_high_confidence"]
    assert [c["score"] for c in cards] == sorted((c["score"] for c in cards), reverse=True)

    reset(page)
    page.click("a.only-case[data-case='two_predictions']")
    assert {c["case"] for c in visible_cards(page)} == {"two_predictions"}
    reset(page)
    assert page.problems == []


def test_a_script_label_renders_as_text(page):
    reset(page)
    assert page.evaluate("() => window.__pwned") is None
    rocket = [c for c in visible_cards(page) if c["key"] == "n03773504/rocket.jpg"][0]
    assert f"predicted: {XSS}" in rocket["text"]
    assert XSS in page.inner_text("#confusions")
    options = page.evaluate("() => Array.from(document.querySelectorAll('#f-class option')).map(o => o.value)")
    assert XSS in options
    page.select_option("#f-class", XSS)
    assert {c["key"] for c in visible_cards(page)} >= {"n03773504/rocket.jpg", "n03773504/rocket_gray.jpg"}
    assert page.evaluate("() => window.__pwned") is None
    reset(page)


def test_click_shows_full_size_and_failures_are_listed(page):
    reset(page)
    first = page.query_selector("section.case:not([hidden]) .pics img")
    src = first.evaluate("i => i.src")
    first.click()
    assert page.is_visible("#lightbox")
    assert page.evaluate("() => document.querySelector('#lightbox img').src") == src
    page.keyboard.press("Escape")
    assert not page.is_visible("#lightbox")
    failed = page.inner_text("#failed")
    assert "moped/broken.jpg" in failed and "not a readable image" in failed
    assert "different classes" in page.inner_text("#problems")  # the duplicate coffee photo filed as a cat
    assert page.problems == []
