"""The app in a real browser: Debian's headless Chromium driven by Playwright.

The app is started once for the module (a WSGI server on a free port, in a thread); each
test points it at its own warehouse through ``Warehouse.use``. Every page must render
with no error in the browser console (a failing callback is an HTTP 500 there), a
filter must change the figures shown, and a change made with the simulator and loaded
by a real pipeline cycle must appear after Refresh, without restarting the app.
Screenshots of each page go to ``.local/screenshots/`` (git-ignored).
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pg8000.native
import pytest
from werkzeug.serving import make_server

from cli.dashboard_cmd import lake_status_reader
from common.db import connect
from dashboard.app import create_app
from dashboard.health import LakeStatus
from load.handler import FOLD_EVENT
from local.generator import seed_database
from local.paths import LOCAL_DIR
from local.postgres_server import free_port
from local.simulator import simulate_changes
from local.stack import READER_ROLE
from ops.target import Target

playwright_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# The flags that work on this kind of machine (as root, no network but loopback).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = LOCAL_DIR / "screenshots"
TIMEOUT_MS = 90_000  # generous: a loaded shared machine serves plotly.js slowly

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@dataclass
class Warehouse:
    """Which warehouse (and lake) the module's app reads (each test sets its own)."""

    connect: Callable[[], pg8000.native.Connection] | None = None
    lake: Callable[[], LakeStatus] | None = None

    def use(
        self, connect: Callable[[], pg8000.native.Connection], lake: Callable[[], LakeStatus] | None = None
    ) -> None:
        self.connect, self.lake = connect, lake

    def lake_status(self) -> LakeStatus:
        return self.lake() if self.lake else LakeStatus([], {})

    def __call__(self) -> pg8000.native.Connection:
        assert self.connect is not None, "the test did not say which warehouse to read"
        return self.connect()


@dataclass
class Browser:
    url: str
    page: Any
    errors: list[str] = field(default_factory=list)

    def open(self, path: str) -> None:
        self.page.goto(self.url + path)

    def text(self, selector: str, pattern: str) -> str:
        """Wait until the element's text matches ``pattern``; return it."""
        locator = self.page.locator(selector)
        playwright_api.expect(locator).to_have_text(re.compile(pattern), timeout=TIMEOUT_MS)
        return str(locator.inner_text())

    def chart_title(self, graph: str, pattern: str) -> str:
        """Wait until the title of the chart ``graph`` (an SVG text: no innerText) matches ``pattern``."""
        locator = self.page.locator(f"{graph} .gtitle")
        playwright_api.expect(locator).to_have_text(re.compile(pattern), timeout=TIMEOUT_MS)
        return str(locator.text_content())

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.wait_for_load_state("networkidle")
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture(scope="module")
def app_target() -> Warehouse:
    return Warehouse()


@pytest.fixture(scope="module")
def app_url(app_target: Warehouse) -> Iterator[str]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: `make test` installs it (scripts/ensure-chromium.sh)")
    app = create_app(app_target, lake_status=app_target.lake_status, refresh_seconds=3600)  # Refresh: the button
    port = free_port()
    server = make_server("127.0.0.1", port, app.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def browser(chromium: Any, app_url: str) -> Iterator[Browser]:
    context = chromium.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    b = Browser(app_url, page)
    page.on("console", lambda m: b.errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: b.errors.append(f"page error: {e}"))
    yield b
    context.close()


def test_every_page_renders_without_errors(hand_warehouse, reader, app_target, browser) -> None:
    app_target.use(reader)
    browser.open("/")
    assert browser.text("#sales-headline", r"^4 orders · 111 units · value EUR 1,021\.00, GBP 226\.00$")
    browser.text("#loaded", r"no data loaded yet")  # the hand-typed warehouse has no ledger rows
    browser.screenshot("sales")
    browser.open("/purchases")
    browser.text("#purchases-headline", r"^1 purchase orders · 1 unpaid payments \(GBP 7\.00\)$")
    browser.text("#outstanding-table", r"Fahey and Sons")
    browser.screenshot("purchases")
    browser.open("/history")
    browser.page.fill("#history-order", "1")
    browser.page.press("#history-order", "Enter")
    browser.text("#history-summary", r"Sales order 1: 2 version\(s\), current")
    browser.text("#history-table", r"units_sold: 100 → 90")
    browser.screenshot("history")
    browser.open("/health")
    browser.text("#health-freshness", r"no load yet, OUTSIDE the 30-minute target")
    browser.screenshot("health")
    assert browser.errors == []


def test_a_filter_changes_every_figure(hand_warehouse, reader, app_target, browser) -> None:
    app_target.use(reader)
    browser.open("/")
    browser.text("#sales-headline", r"^4 orders · 111 units")
    browser.page.click("#sales-counterparty")
    browser.page.keyboard.type("Leannon")
    browser.page.keyboard.press("Enter")
    assert browser.text("#sales-headline", r"^2 orders") == "2 orders · 11 units · value EUR 21.00, GBP 1.00"
    assert browser.errors == []


def test_the_reporting_currency_converts_every_figure_and_says_so(hand_warehouse, reader, app_target, browser) -> None:
    """Rates for January only (EUR->GBP 0.9): switching to GBP converts January, shows February's
    EUR as missing and says both on the charts; switching back shows values per currency."""
    hand_warehouse.admin.run(
        "INSERT INTO public.fx_rate (currency_code, rate_date, rate, base_currency, source, run_seq)"
        " VALUES ('EUR', '2024-01-10', 1.25, 'GBP', 'test', 1), ('EUR', '2024-01-20', 1.00, 'GBP', 'test', 1)"
    )
    app_target.use(reader)
    browser.open("/")
    browser.text("#sales-headline", r"value EUR 1,021\.00, GBP 226\.00$")
    browser.chart_title("#sales-by-month", r"per currency, not converted")

    def choose(control: str, label: str) -> None:
        browser.page.click(control)
        browser.page.get_by_role("option", name=label, exact=True).click()

    choose("#sales-reporting", "GBP")
    # Jan 225.00 + 21.00 x 0.9; Feb GBP 1.00, its EUR 1,000.00 has no rate
    browser.text("#sales-headline", r"value GBP 244\.90 \+ not converted \(no rate\): EUR 1,000\.00$")
    browser.chart_title("#sales-by-month", r"converted to GBP at each month's average rate.*EUR in Feb 2024")
    browser.chart_title("#sales-departments", r"converted to GBP")
    browser.screenshot("sales-converted")
    choose("#sales-reporting", "per currency, not converted")
    browser.text("#sales-headline", r"value EUR 1,021\.00, GBP 226\.00$")

    browser.open("/purchases")
    browser.text("#purchases-headline", r"\(GBP 7\.00\)$")
    choose("#purchases-reporting", "EUR")  # GBP->EUR 1.125 in January only; the payments are in Feb and Mar
    browser.chart_title("#purchases-over-time", r"converted to EUR at each month's average rate")
    browser.text("#purchases-headline", r"unpaid payments \(EUR 0\.00 \+ not converted \(no rate\): GBP 7\.00\)$")
    browser.screenshot("purchases-converted")
    assert browser.errors == []


def test_a_change_loaded_by_a_cycle_appears_after_refresh(
    pipeline, deployed_handlers, reader_password, app_target, browser
) -> None:
    """Seed totesys, run a real cycle, open the page; simulate changes, run another cycle,
    press Refresh: the header says the figures trail run 2 until the load function's fold
    runs; after it, Refresh shows the new figures (those of the warehouse's current orders)."""
    res = pipeline.resources
    runner = deployed_handlers.runner(pipeline)
    seed_database(pipeline.source.admin, seed=42, scale=0.05)
    assert runner.run_cycle().ok
    creds = dataclasses.replace(pipeline.warehouse.credentials, username=READER_ROLE, password=reader_password)
    app_target.use(
        lambda: connect(creds, "totes-dashboard"),
        lake=lake_status_reader(Target({}, res)),  # what `totes dashboard` gives the health page
    )

    def current_orders() -> tuple[int, int]:
        rows = pipeline.warehouse.admin.run("SELECT count(*), sum(units_sold) FROM pipeline.fact_sales_order_current")
        return int(rows[0][0]), int(rows[0][1])

    browser.open("/")
    orders, units = current_orders()
    browser.text("#sales-headline", rf"^{orders:,} orders · {units:,} units")
    browser.text("#loaded", r"\(run 1\)")

    simulate_changes(pipeline.source.admin, seed=7)
    runner.load_function = None  # the cycle's load, without the fold it asks for (load.handler)
    assert runner.run_cycle().ok
    new_orders, new_units = current_orders()
    assert (new_orders, new_units) != (orders, units)
    browser.text("#sales-headline", rf"^{orders:,} orders · {units:,} units")  # not yet: no refresh
    browser.page.click("#refresh")
    # run 2's facts are loaded, its fold has not run: the figures stay run 1's, and the header says so
    browser.text("#loaded", r"\(run 2\) · checked .* · figures include run 1 only: summaries catching up$")
    browser.text("#sales-headline", rf"^{orders:,} orders · {units:,} units")
    browser.open("/health")
    browser.text("#health-summaries", r"run 1, 1 run\(s\) behind the load")
    browser.open("/")
    browser.text("#loaded", r"figures include run 1 only: summaries catching up$")
    browser.text("#sales-headline", rf"^{orders:,} orders · {units:,} units")
    assert runner.invoke(deployed_handlers.function_name("load"), dict(FOLD_EVENT), "fold request").ok
    browser.page.click("#refresh")
    browser.text("#loaded", r"\(run 2\) · checked [0-9:]+ UTC$")
    browser.text("#sales-headline", rf"^{new_orders:,} orders · {new_units:,} units")
    browser.screenshot("sales-after-cycle")  # docs/images/dashboard-sales.png is a copy of one
    browser.open("/health")
    stages = browser.text("#health-stages", r"ingestion\s*2")
    assert re.search(r"transform\s+2", stages)
    assert re.search(r"load\s+2", stages)
    browser.text("#health-freshness", r"within the 30-minute target")
    browser.text("#health-summaries", r"run 2, current with the load")
    assert browser.errors == []
