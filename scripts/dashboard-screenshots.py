"""Screenshots of each page of the monitors' dashboard (`reporter serve`), for a person to look at: logs in through
the form with the token given, then writes one PNG per page (the first participant listed on the sites page for the
participant page) with Debian's chromium driven by Playwright. Prints the paths.

Usage: dashboard-screenshots.py BASE_URL TOKEN OUT_DIR CHROMIUM"""
import pathlib
import sys

from playwright.sync_api import sync_playwright

base, token, out, chromium = sys.argv[1].rstrip("/"), sys.argv[2], pathlib.Path(sys.argv[3]), sys.argv[4]
out.mkdir(parents=True, exist_ok=True)
with sync_playwright() as p:
    browser = p.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
    page = browser.new_page(viewport={"width": 1100, "height": 800})
    page.goto(base + "/login")
    page.fill("#token", token)
    with page.expect_navigation():
        page.click("button[type=submit]")
    page.goto(base + "/sites")
    first = page.get_attribute("#participants tbody a", "href")
    pages = [("overview", "/"), ("sites", "/sites"), ("participant", first), ("signals", "/signals"),
             ("accountability", "/accountability")]
    for name, path in pages:
        if path is None:
            continue
        page.goto(base + path)
        target = out / f"dashboard-{name}.png"
        page.screenshot(path=str(target), full_page=True)
        print(target)
    browser.close()
