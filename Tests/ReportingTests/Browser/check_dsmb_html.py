"""Renders the DSMB report's HTML in a real headless browser (Debian's chromium, driven by Playwright through its
executable_path) with every network request refused, and prints what the page shows as JSON: the plots' sizes, the
table rows, and every request the page tried to make (there must be none but the page itself)."""
import json
import pathlib
import sys

from playwright.sync_api import sync_playwright

page_path = pathlib.Path(sys.argv[1]).resolve()
chromium = sys.argv[2]
attempted = []

with sync_playwright() as p:
    browser = p.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
    context = browser.new_context(offline=True)
    page = context.new_page()

    def refuse(route):
        if route.request.url != page_path.as_uri():
            attempted.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    page.route("**/*", refuse)
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(page_path.as_uri())
    plots = page.eval_on_selector_all(
        "svg", "els => els.map(e => { const r = e.getBoundingClientRect(); return {cls: e.getAttribute('class'), "
               "width: r.width, height: r.height, lines: e.querySelectorAll('polyline').length, bars: e.querySelectorAll('rect').length}; })")
    rows = page.eval_on_selector_all("#by-arm tbody tr", "els => els.length")
    blinding = page.eval_on_selector_all("#blinding tbody tr", "els => els.map(e => e.innerText)")
    title = page.title()
    browser.close()

print(json.dumps({"title": title, "plots": plots, "rows": rows, "blinding": blinding, "attempted": attempted, "errors": errors}))
