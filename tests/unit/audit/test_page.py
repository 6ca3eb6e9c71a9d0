"""The report page as a person sees it: rendered by headless Chromium at a laptop's and a phone's
width, read without scrolling sideways, filtered, expanded, and read with JavaScript off.
Screenshots are kept in build/ (CI artifacts): audit-report-1280.png, audit-report-390.png."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from manyoyo_mcp.audit.log import log_files
from manyoyo_mcp.audit.report import review
from manyoyo_mcp.audit.report.page import page

from .browser import Browser, chromium
from .day import CALLS, DENIED_COMMAND, SECOND_SESSION_CALLS, SECRET

BUILD = Path(__file__).parents[3] / "build"
WIDE, PHONE = (1280, 900), (390, 844)

# Where an element is, and whether a person sees it: inside the viewport and not hidden under
# another element (the sticky header), its text not cut short by an ellipsis.
SEEN = """(el => {
  const r = el.getBoundingClientRect(), x = r.left + Math.min(r.width, 40) / 2, y = r.top + r.height / 2;
  const top = document.elementFromPoint(x, y);
  return {left: r.left, right: r.right, top: r.top, bottom: r.bottom, width: innerWidth, height: innerHeight,
          onTop: !!top && (el === top || el.contains(top) || top.contains(el)),
          whole: el.scrollWidth <= el.clientWidth};
})"""


def seen(browser: Browser, selector: str) -> dict:
    return browser.evaluate(f"{SEEN}(document.querySelector({json.dumps(selector)}))")


def one_line(browser: Browser, selector: str) -> bool:
    """Whether an element's text sits on one line (it is less than two lines high)."""
    return browser.evaluate(
        f"(e => e.getBoundingClientRect().height < 1.5 * parseFloat(getComputedStyle(e).lineHeight))"
        f"(document.querySelector({json.dumps(selector)}))"
    )


def in_view(box: dict) -> bool:
    return box["left"] >= 0 and box["right"] <= box["width"] and box["top"] >= 0 and box["bottom"] <= box["height"]


def overflow(browser: Browser) -> int:
    """How far the page reaches past the viewport's right edge (0: nothing to scroll sideways). A
    phone's browser widens its layout to fit what overflows, so innerWidth alone would not tell."""
    return browser.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = chromium()
    if executable is None:
        pytest.fail("the report page tests need Chromium: run scripts/setup --tests (it installs it)", pytrace=False)
    with Browser(executable) as running:
        yield running


@pytest.fixture(scope="module")
def report(day, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("page") / "report.html"
    path.write_text(page(day), encoding="utf-8")
    return path


def test_at_1280_px_every_column_header_the_rule_and_the_command_of_a_denial_are_in_view(browser, report):
    browser.open(report.as_uri(), *WIDE)
    assert overflow(browser) <= 0
    browser.evaluate("document.querySelector('.hd').scrollIntoView()")
    headers = browser.evaluate("[...document.querySelectorAll('.hd span')].map(h => h.textContent)")
    assert headers == ["time", "tool", "what", "outcome", "exit", "duration", "output"]
    for n in range(1, len(headers) + 1):
        assert in_view(seen(browser, f".hd span:nth-child({n})")), headers[n - 1]
        assert one_line(browser, f".hd span:nth-child({n})"), headers[n - 1]
    denied = "#calls details.denied:nth-of-type(5)"  # the exec refused by limits.timeout-ceiling
    assert browser.evaluate(f"document.querySelector('{denied} .r').textContent") == "limits.timeout-ceiling"
    browser.evaluate(f"document.querySelector('{denied}').scrollIntoView({{block: 'center'}})")
    rule, command = seen(browser, f"{denied} .r"), seen(browser, f"{denied} code")
    assert in_view(rule) and rule["onTop"] and rule["whole"]
    assert in_view(command) and command["onTop"] and command["whole"]
    assert all(one_line(browser, f"{denied} {cell}") for cell in ("time", "b", "code", "em", "i"))
    assert browser.evaluate(f"document.querySelector('{denied} code').textContent").startswith(DENIED_COMMAND)
    assert overflow(browser) <= 0
    browser.evaluate("scrollTo(0, 0)")
    browser.screenshot(BUILD / "audit-report-1280.png", full_page=True)


def test_at_phone_width_the_summary_and_the_calls_fit_without_scrolling_sideways(browser, report):
    browser.open(report.as_uri(), *PHONE, mobile=True)
    assert overflow(browser) <= 0
    assert browser.evaluate("innerWidth") == PHONE[0]
    cards = browser.evaluate(
        "[...document.querySelectorAll('#sum > div')].map(c => [c.getBoundingClientRect().left, "
        "c.getBoundingClientRect().right, c.querySelector('h3').textContent])"
    )
    assert len(cards) == 8 and all(left >= 0 and right <= PHONE[0] for left, right, _ in cards), cards
    assert "Chain verified" in browser.evaluate("document.querySelector('.chain').textContent")
    browser.evaluate("document.querySelector('#calls details.denied').scrollIntoView({block: 'center'})")
    rule = seen(browser, "#calls details.denied .r")
    assert in_view(rule) and rule["onTop"]
    browser.evaluate("scrollTo(0, 0)")
    browser.screenshot(BUILD / "audit-report-390.png", full_page=True)


def test_a_call_opens_to_its_reason_and_records_and_only_there_shows_its_id(browser, report, day):
    browser.open(report.as_uri(), *WIDE)
    denied = next(row for row in day.rows if row.rule == "limits.timeout-ceiling")
    visible = "document.body.innerText"
    assert denied.call.id not in browser.evaluate(visible)
    browser.evaluate("document.querySelector('#calls details.denied:nth-of-type(5) summary').click()")
    text = browser.evaluate(visible)
    assert denied.call.id in text and "DENIED by limits.timeout-ceiling: timeout_s is at most 3600" in text
    assert all(f"#{record['seq']} {record['event']}" in text for record in denied.call.records)
    assert overflow(browser) <= 0


@pytest.mark.parametrize(("size", "mobile"), [(WIDE, False), (PHONE, True)], ids=["1280", "390"])
def test_with_every_call_open_nothing_reaches_past_the_right_edge(browser, report, size, mobile):
    browser.open(report.as_uri(), *size, mobile=mobile)
    browser.evaluate("for (const d of document.querySelectorAll('details')) d.open = true")
    assert browser.evaluate("document.querySelectorAll('details[open]').length") > CALLS  # and the idle runs
    assert overflow(browser) <= 0
    row = "[...document.querySelectorAll('#calls details')].find(d => d.textContent.includes('base64 -d'))"
    assert browser.evaluate(f"{SEEN}({row}.querySelector('code'))")["whole"]  # the long command, wrapped


def test_the_filters_narrow_the_calls_by_outcome_session_sandbox_tool_and_text(browser, report):
    browser.open(report.as_uri(), *WIDE)
    shown = "[...document.querySelectorAll('#calls details')].filter(d => d.offsetParent).length"

    def choose(name: str, value: str) -> int:
        browser.evaluate(
            "(() => { const f = document.getElementById('f'); f.reset();"
            f"f.elements.{name}.value = {json.dumps(value)}; f.dispatchEvent(new Event('input')); }})()"
        )
        return browser.evaluate(shown)

    assert browser.evaluate(shown) == CALLS
    assert choose("o", "denied") == 4
    assert choose("s", "2") == SECOND_SESSION_CALLS
    assert choose("b", "shop") == 11
    assert choose("t", "launch_agent") == 1
    assert choose("q", "e2e") == 2
    assert f"2 of {CALLS}" in browser.evaluate("document.getElementById('count').textContent")


def test_without_javascript_the_summary_and_every_call_still_show(browser, report):
    browser.open(report.as_uri(), *WIDE, scripts=False)
    try:
        assert browser.evaluate("document.querySelectorAll('#calls details').length") == CALLS
        assert browser.evaluate("document.querySelectorAll('#sum > div').length") == 8
        assert browser.evaluate("document.getElementById('f').hidden") is True
        assert overflow(browser) <= 0
    finally:
        browser.send("Emulation.setScriptExecutionDisabled", value=False)


def test_the_page_is_self_contained_and_keeps_secrets_redacted(report):
    html = report.read_text()
    assert SECRET not in html and "[redacted:" in html
    for reference in ("<link", "src=", "url(", "@import", 'href="http'):
        assert reference not in html


def test_a_broken_chain_is_the_first_thing_the_page_says(browser, day_log, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(day_log, copy)
    (path,) = log_files(copy)
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:30] + lines[31:]) + "\n")
    broken = tmp_path / "broken.html"
    broken.write_text(page(review(copy)), encoding="utf-8")
    browser.open(broken.as_uri(), *WIDE)
    banner = browser.evaluate(
        "document.querySelector('.chain').className + ' ' + document.querySelector('.chain').textContent"
    )
    assert banner.startswith("chain bad ✗ Chain broken at audit-") and "line 31" in banner
    assert browser.evaluate("document.querySelectorAll('#calls details.u').length") > 0
    assert one_line(browser, "#calls details.u time") and overflow(browser) <= 0
