"""The page at / in headless Chromium: paste, classify, see chips, bars, evidence and summary."""

import shutil
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
TEXT = ("Sovereign tech stacks\n\n"
        "After the export ban, the plant sources microcontrollers through intermediaries in Central Asia.\n\n"
        "The president recalled that the country launched the first satellite while under total embargo.\n\n"
        "Wheat exports rose 4% in the third quarter.")


@pytest.fixture(scope="module")
def page(server):
    if CHROMIUM is None:
        pytest.fail("Debian's chromium is required for the page test (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto(server.url + "/")
        yield page
        browser.close()


def test_page_classifies_and_shows_framings(page):
    page.fill("#text", TEXT)
    page.click("#go")
    page.wait_for_selector("article.para")
    paragraphs = page.locator("article.para")
    assert paragraphs.count() == 4
    second = paragraphs.nth(1)
    assert second.locator(".chip.sanctions").count() == 1
    assert second.locator("mark.sanctions").count() >= 1  # evidence words highlighted
    assert second.locator(".score").count() == 3  # one bar per label
    assert paragraphs.nth(3).locator(".chip.none").count() == 1
    summary = page.locator("#summary .card")
    assert summary.count() == 3
    assert "of 4 paragraphs" in summary.first.inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "page.png"), full_page=True)
    assert (ARTIFACTS / "page.png").stat().st_size > 10_000


def test_page_reports_errors_from_the_api(page):
    page.fill("#text", "   ")
    page.click("#go")
    assert "Paste some text" in page.locator("#status").inner_text()


def test_page_loads_nothing_from_outside(server):
    html = (Path(__file__).resolve().parent.parent / "app" / "web" / "index.html").read_text()
    assert "http://" not in html and "https://" not in html
