"""Drives the monitors' dashboard (`reporter serve`) in a real headless browser (Debian's chromium, through Playwright's
executable_path) and prints what it saw as JSON.

Argument: a JSON object with base (the dashboard's URL), chromium, monitor and scoped (tokens: a study-wide monitor
and a monitor of other sites only), participant (one of the study-wide monitor's), ingest, investigator and critical
(the URL of ingest, a token of the participant's site and an event that opens a critical signal).

It logs in through the form, loads every page (statuses, titles, plots and their points, whether any script the data
carried ran), then opens the signals page in both monitors' browsers, posts the critical event through ingest and
waits for the signal to appear in the study-wide monitor's page without a reload, and not in the other's. Every
request to anywhere but the dashboard is refused and recorded."""
import json
import sys
import time
import urllib.request

from playwright.sync_api import sync_playwright

config = json.loads(sys.argv[1])
base = config["base"].rstrip("/")
attempted, errors = [], []


def guard(context):
    def refuse(route):
        if route.request.url.startswith(base + "/"):
            route.continue_()
        else:
            attempted.append(route.request.url)
            route.abort()
    context.route("**/*", refuse)


def login(browser, token, path):
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    guard(context)
    page = context.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    refused = page.goto(base + path)
    first = {"status": refused.status, "form": page.locator("form[action='/login'] textarea[name=token]").count()}
    page.fill("#token", token)
    with page.expect_navigation():
        page.click("button[type=submit]")
    first["landed"] = page.url[len(base):]
    return context, page, first


def describe(page, path):
    response = page.goto(base + path)
    plots = page.eval_on_selector_all(
        "svg", "els => els.map(e => { const r = e.getBoundingClientRect(); return {cls: e.getAttribute('class'), "
               "instrument: e.getAttribute('data-instrument'), points: e.querySelectorAll('circle.point').length, "
               "lines: e.querySelectorAll('polyline').length, label: (e.querySelector('title') || {}).textContent, "
               "desc: (e.querySelector('desc') || {}).textContent, width: r.width, height: r.height}; })")
    return {"status": response.status, "title": page.title(), "h1": page.inner_text("h1"), "plots": plots,
            "xss": page.evaluate("window.__xss === undefined ? null : window.__xss"),
            "text": page.inner_text("main")[:4000]}


def wait_live(page):
    page.goto(base + "/signals")
    page.wait_for_selector("body[data-live=open]", timeout=20000)


with sync_playwright() as p:
    browser = p.chromium.launch(executable_path=config["chromium"], headless=True, args=["--no-sandbox"])
    context, page, first = login(browser, config["monitor"], "/signals")
    pages = {path: describe(page, path) for path in
             ["/", "/sites", "/participants/" + config["participant"], "/signals", "/accountability"]}
    scoped_context, scoped, scoped_first = login(browser, config["scoped"], "/")
    scoped_participant = scoped.goto(base + "/participants/" + config["participant"]).status

    wait_live(page)
    wait_live(scoped)
    page.evaluate("window.__marker = 'not reloaded'")
    request = urllib.request.Request(config["ingest"] + "/v1/events", data=json.dumps(config["critical"]).encode(),
                                     headers={"Content-Type": "application/json",
                                              "Authorization": "Bearer " + config["investigator"]}, method="POST")
    posted = urllib.request.urlopen(request).status
    started = time.time()
    live_row = None
    live_cells = None
    try:
        page.wait_for_selector("#signals tbody tr.live", timeout=45000)
        live_row = page.inner_text("#signals tbody tr.live")
        # The trigger's time and a counted age, not the announcement's "new".
        live_cells = page.evaluate("""(() => {var r = document.querySelector('#signals tbody tr.live');
            return {occurred: r.getAttribute('data-occurred'), shown: r.cells[4].textContent, age: r.cells[5].textContent};})()""")
    except Exception as e:  # noqa: BLE001 - reported in the output, the test fails on it
        errors.append("no live row: " + str(e))
    seconds = round(time.time() - started, 1)
    marker = page.evaluate("window.__marker || null")
    # The stream fans out to both pages at once: give the scoped one a moment more, then count its live rows.
    scoped.wait_for_timeout(2000)
    scoped_live = scoped.locator("#signals tbody tr.live").count()
    browser.close()

print(json.dumps({"first": first, "pages": pages, "scoped_first": scoped_first, "scoped_participant": scoped_participant,
                  "posted": posted, "live_row": live_row, "live_cells": live_cells, "seconds": seconds, "marker": marker, "scoped_live": scoped_live,
                  "attempted": attempted, "errors": errors}))
