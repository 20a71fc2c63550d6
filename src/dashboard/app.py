"""The Dash app: four pages over the warehouse, queried live at each request.

``create_app`` takes a way to open a read-only warehouse connection (the CLI builds it
from the app role's credentials with ``common.db.connect``) and, optionally, a way to
read the lake's status for the health page. Nothing here writes: the role cannot, and
every session is READ ONLY as well.

Refresh: the header shows the last load run and, while the summaries trail it (their fold
runs after the load, load.summaries), that the figures include an earlier run only. Every
``refresh_seconds`` (and on the Refresh button) the app asks the warehouse for its last
loaded run and the run its summaries include; when either moved, every chart on the page
is recomputed, so a pipeline cycle shows up without restarting the app.
"""

from __future__ import annotations

import contextlib
import queue
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime
from typing import Any

import dash
import pg8000.exceptions
import pg8000.native
from dash import Input, Output, State, dcc, html

from dashboard import figures
from dashboard.filters import Filters
from dashboard.health import FRESHNESS_TARGET, Health, LakeStatus, data_loaded, figures_run, pipeline_health
from dashboard.history import order_history
from dashboard.money import PER_CURRENCY, MonthlyRates, monthly_rates
from dashboard.options import filter_options
from dashboard.purchases import purchases_page
from dashboard.sales import sales_page
from dashboard.session import prepare_session

Connect = Callable[[], pg8000.native.Connection]
PAGES = {
    "/": "Sales",
    "/purchases": "Purchases and payments",
    "/history": "Sales order history",
    "/health": "Pipeline health",
}
POOL_SIZE = 4
NOT_CONVERTED = "none"  # the reporting-currency control's default: values per currency


class ConnectionPool:
    """A few reusable read-only connections; one that failed is closed, not reused."""

    def __init__(self, connect: Connect, size: int = POOL_SIZE) -> None:
        self._connect = connect
        self._idle: queue.LifoQueue[pg8000.native.Connection] = queue.LifoQueue(maxsize=size)

    @contextlib.contextmanager
    def connection(self) -> Iterator[pg8000.native.Connection]:
        con = self._checkout()
        try:
            yield con
        except BaseException:
            with contextlib.suppress(Exception):
                con.close()
            raise
        try:
            self._idle.put_nowait(con)
        except queue.Full:
            con.close()

    def _checkout(self) -> pg8000.native.Connection:
        """An idle connection that still answers (a server restart kills them), else a new one."""
        while True:
            try:
                con = self._idle.get_nowait()
            except queue.Empty:
                break
            try:
                con.run("SELECT 1")
                return con
            except (pg8000.exceptions.Error, OSError):
                with contextlib.suppress(Exception):
                    con.close()
        return prepare_session(self._connect())

    def close(self) -> None:
        while not self._idle.empty():
            with contextlib.suppress(Exception):
                self._idle.get_nowait().close()


def _month_options(months: list[date]) -> list[dict[str, str]]:
    return [{"label": m.strftime("%b %Y"), "value": m.isoformat()} for m in months]


def _pairs(items: list[tuple[int, str]]) -> list[dict[str, Any]]:
    return [{"label": name, "value": key} for key, name in items]


def _dropdown(id_: str, label: str, options: list[dict[str, Any]], *, multi: bool = True) -> html.Div:
    return html.Div(
        [html.Label(label, htmlFor=id_), dcc.Dropdown(id=id_, options=options, multi=multi, placeholder="all")],
        className="filter",
        style={"minWidth": "180px", "flex": "1"},
    )


def _filters(prefix: str, con: pg8000.native.Connection, members: tuple[str, ...]) -> html.Div:
    o = filter_options(con)
    months = _month_options(o.months)
    parts = [
        _dropdown(f"{prefix}-start", "From month", months, multi=False),
        _dropdown(f"{prefix}-end", "To month", months, multi=False),
        _dropdown(f"{prefix}-currency", "Currency", _pairs(o.currencies)),
        _reporting(f"{prefix}-reporting", [code for _, code in o.currencies]),
    ]
    if "counterparty" in members:
        parts.append(_dropdown(f"{prefix}-counterparty", "Counterparty", _pairs(o.counterparties)))
    if "design" in members:
        parts.append(_dropdown(f"{prefix}-design", "Design", _pairs(o.designs)))
    if "staff" in members:
        parts.append(_dropdown(f"{prefix}-staff", "Sales staff", _pairs(o.staff)))
        parts.append(_dropdown(f"{prefix}-department", "Department", [{"label": d, "value": d} for d in o.departments]))
    return html.Div(parts, style={"display": "flex", "gap": "8px", "flexWrap": "wrap"})


def _reporting(id_: str, codes: list[str]) -> html.Div:
    """The reporting-currency control: per currency (the default) or one of the warehouse's currencies."""
    options = [{"label": PER_CURRENCY, "value": NOT_CONVERTED}] + [{"label": c, "value": c} for c in codes]
    return html.Div(
        [
            html.Label("Reporting currency", htmlFor=id_),
            dcc.Dropdown(id=id_, options=options, value=NOT_CONVERTED, clearable=False, searchable=False),
        ],
        className="filter",
        style={"minWidth": "200px", "flex": "1"},
    )


def _rates(con: pg8000.native.Connection, reporting: str | None, months: Iterable[date]) -> MonthlyRates | None:
    """The rates to convert the page's ``months`` with, or None for values per currency."""
    return None if not reporting or reporting == NOT_CONVERTED else monthly_rates(con, reporting, months)


def _graph(id_: str, width: str = "49%") -> dcc.Graph:
    return dcc.Graph(id=id_, config={"displaylogo": False}, style={"width": width, "display": "inline-block"})


def _to_filters(start: str | None, end: str | None, currency: list[int] | None, **members: Any) -> Filters:
    return Filters(
        start=date.fromisoformat(start) if start else None,
        end=date.fromisoformat(end) if end else None,
        currencies=tuple(currency or ()),
        counterparties=tuple(members.get("counterparty") or ()),
        designs=tuple(members.get("design") or ()),
        staff=tuple(members.get("staff") or ()),
        departments=tuple(members.get("department") or ()),
    )


def _error(exc: Exception) -> str:
    return f"Could not compute this page: {exc}"


def create_app(
    connect: Connect, *, lake_status: Callable[[], LakeStatus] | None = None, refresh_seconds: int = 30
) -> dash.Dash:
    """The app; serve it with ``app.run`` (or any WSGI server on ``app.server``)."""
    pool = ConnectionPool(connect)
    app = dash.Dash(__name__, title="Terrific Totes analytics", suppress_callback_exceptions=True)
    app.layout = _layout(refresh_seconds)
    _register_check_data(app, pool)
    _register_render(app, pool)
    _register_sales(app, pool)
    _register_purchases(app, pool)
    _register_history(app, pool)
    _register_health(app, pool, lake_status)
    return app


def _layout(refresh_seconds: int) -> html.Div:
    """The frame every page renders into: links, the data check, the page."""
    return html.Div(
        [
            dcc.Location(id="url"),
            dcc.Interval(id="tick", interval=refresh_seconds * 1000),
            dcc.Store(id="version"),
            html.Div(
                [
                    html.H2("Terrific Totes analytics", style={"margin": "0 16px 0 0"}),
                    *[dcc.Link(name, href=path, style={"marginRight": "12px"}) for path, name in PAGES.items()],
                    html.Span(id="loaded", style={"marginLeft": "auto", "marginRight": "8px"}),
                    html.Button("Refresh", id="refresh"),
                ],
                style={"display": "flex", "alignItems": "center", "padding": "8px", "borderBottom": "1px solid #ddd"},
            ),
            html.Div(id="page", style={"padding": "8px", "fontFamily": "sans-serif"}),
        ],
        style={"fontFamily": "sans-serif"},
    )


def _register_check_data(app: dash.Dash, pool: ConnectionPool) -> None:
    """Every tick or Refresh click: look for newly loaded data; a new ``version`` makes the open page recompute."""

    @app.callback(
        Output("version", "data"),
        Output("loaded", "children"),
        Input("tick", "n_intervals"),
        Input("refresh", "n_clicks"),
        State("version", "data"),
    )
    def check_data(_ticks: int | None, clicks: int | None, current: dict[str, Any] | None) -> tuple[Any, str]:
        with pool.connection() as con:
            last = data_loaded(con)
            shown = figures_run(con)
        now = datetime.now(UTC).strftime("%H:%M:%S UTC")
        if last.run_seq is None:
            text = f"no data loaded yet · checked {now}"
        else:
            text = f"data loaded {last.at:%Y-%m-%d %H:%M:%S} UTC (run {last.run_seq}) · checked {now}"
            if shown != last.run_seq:  # the summaries are folded after the load (load.summaries)
                text += f" · figures include run {shown or 'none'} only: summaries catching up"
        version = {"run": last.run_seq, "figures": shown, "clicks": clicks or 0}
        return (dash.no_update if version == current else version), text


def _register_render(app: dash.Dash, pool: ConnectionPool) -> None:
    """The page of the URL's path (sales by default)."""

    @app.callback(Output("page", "children"), Input("url", "pathname"))
    def render(path: str | None) -> Any:
        with pool.connection() as con:
            if path == "/purchases":
                return _purchases_layout(con)
            if path == "/history":
                return _history_layout()
            if path == "/health":
                return html.Div([html.H3(PAGES["/health"]), html.Div(id="health-body")])
            return _sales_layout(con)


def _register_sales(app: dash.Dash, pool: ConnectionPool) -> None:
    """The sales page's headline and figures for its filters."""

    @app.callback(
        Output("sales-headline", "children"),
        Output("sales-by-month", "figure"),
        Output("sales-by-currency", "figure"),
        Output("sales-designs", "figure"),
        Output("sales-counterparties", "figure"),
        Output("sales-staff", "figure"),
        Output("sales-departments", "figure"),
        Output("sales-countries", "figure"),
        Output("sales-cities", "figure"),
        Input("sales-start", "value"),
        Input("sales-end", "value"),
        Input("sales-currency", "value"),
        Input("sales-counterparty", "value"),
        Input("sales-design", "value"),
        Input("sales-staff", "value"),
        Input("sales-department", "value"),
        Input("sales-reporting", "value"),
        Input("version", "data"),
    )
    def sales(start, end, currency, counterparty, design, staff, department, reporting, _version):  # type: ignore[no-untyped-def]
        f = _to_filters(
            start, end, currency, counterparty=counterparty, design=design, staff=staff, department=department
        )
        with pool.connection() as con:
            p = sales_page(con, f)
            rates = _rates(con, reporting, (m.month for m in p.by_month))
        value = p.by_currency if rates is None else rates.total(p.cells)
        headline = f"{p.orders:,} orders · {p.units:,} units · value {value}"
        over = None if rates is None else rates.over(p.cells)  # figures over the range, not kept per month
        return (
            headline,
            figures.sales_over_time(p, rates),
            figures.sales_by_currency(p, rates),
            figures.members_by_units("Top designs by units sold", p.designs, over),
            figures.members_value("Top counterparties by units: value", p.counterparties, over),
            figures.members_by_units("Top sales staff by units sold (department)", p.staff, over),
            figures.members_value("Departments: value", p.departments, over),
            figures.members_by_units("Agreed delivery countries by units", p.countries, over),
            figures.members_by_units("Agreed delivery cities by units (country)", p.cities, over),
        )


def _register_purchases(app: dash.Dash, pool: ConnectionPool) -> None:
    """The purchases-and-payments page's headline, figures and outstanding-payments table."""

    @app.callback(
        Output("purchases-headline", "children"),
        Output("purchases-over-time", "figure"),
        Output("purchases-paid", "figure"),
        Output("purchases-types", "figure"),
        Output("purchases-outstanding", "children"),
        Input("purchases-start", "value"),
        Input("purchases-end", "value"),
        Input("purchases-currency", "value"),
        Input("purchases-counterparty", "value"),
        Input("purchases-reporting", "value"),
        Input("version", "data"),
    )
    def purchases(start, end, currency, counterparty, reporting, _version):  # type: ignore[no-untyped-def]
        f = _to_filters(start, end, currency, counterparty=counterparty)
        with pool.connection() as con:
            p = purchases_page(con, f)
            rates = _rates(con, reporting, (m.month for m in (*p.purchases_by_month, *p.payments_by_month)))
        over = None if rates is None else rates.over(p.payment_cells)  # payment figures over the range
        orders = sum(m.count for m in p.purchases_by_month)
        paid = p.paid_vs_unpaid()
        unpaid_n, unpaid_m = paid.get(False, (0, None))
        unpaid = unpaid_m if over is None or unpaid_m is None else over.convert(unpaid_m)
        headline = f"{orders:,} purchase orders · {unpaid_n:,} unpaid payments ({unpaid or 'none'})"
        amount = "Amount per currency" if over is None else f"Amount ({over.label})"
        rows = [html.Tr([html.Th("Counterparty"), html.Th("Unpaid payments"), html.Th(amount)])]
        rows += [
            html.Tr(
                [
                    html.Td(o.name),
                    html.Td(f"{o.payments:,}"),
                    html.Td(str(o.amount if over is None else over.convert(o.amount))),
                ]
            )
            for o in p.outstanding
        ]
        return (
            headline,
            figures.purchases_vs_payments(p, rates),
            figures.paid_vs_unpaid(p, over),
            figures.payment_types(p, over),
            html.Table(rows, id="outstanding-table"),
        )


def _register_history(app: dash.Dash, pool: ConnectionPool) -> None:
    """One sales order's versions, what changed in each, and whether it is current or deleted."""

    @app.callback(
        Output("history-body", "children"),
        Input("history-order", "value"),
        Input("version", "data"),
    )
    def history(order_id: int | None, _version: Any) -> Any:
        if not order_id:
            return html.P("Enter a sales order id.")
        with pool.connection() as con:
            h = order_history(con, int(order_id))
        if not h.versions:
            return html.P(f"Sales order {order_id} is not in the warehouse.", id="history-summary")
        state = "deleted" if h.deleted else "current"
        note = "" if h.deletion_tracked else " (deletions are tracked once the warehouse has is_deleted)"
        header = ["version", "last updated", "current", "what changed", *h.versions[0].values]
        rows = [html.Tr([html.Th(c) for c in header])]
        for i, v in enumerate(h.versions, 1):
            style = {"background": "#fde2e2"} if v.is_deleted else ({"fontWeight": "bold"} if v.is_current else {})
            cells = [str(i), f"{v.last_updated:%Y-%m-%d %H:%M:%S.%f}"[:-3], "yes" if v.is_current else "", v.describe()]
            cells += [str(x) for x in v.values.values()]
            rows.append(html.Tr([html.Td(c) for c in cells], style=style, className="version"))
        return html.Div(
            [
                html.P(f"Sales order {order_id}: {len(h.versions)} version(s), {state}{note}.", id="history-summary"),
                html.Table(rows, id="history-table"),
            ]
        )


def _register_health(app: dash.Dash, pool: ConnectionPool, lake_status: Callable[[], LakeStatus] | None) -> None:
    """The pipeline health page: freshness against the target, stages, load lag, quarantined rows."""

    @app.callback(Output("health-body", "children"), Input("version", "data"), Input("tick", "n_intervals"))
    def health(_version: Any, _ticks: Any) -> Any:
        with pool.connection() as con:
            h = pipeline_health(con, lake_status)
        age = h.data_age
        fresh = "no load yet" if age is None else f"{age.total_seconds() / 60:,.1f} min since the last load"
        verdict = "within" if h.fresh else "OUTSIDE"
        rows = [html.Tr([html.Th("stage"), html.Th("last run"), html.Th("at (UTC)")])]
        rows += [
            html.Tr([html.Td(s.stage), html.Td(str(s.run_seq)), html.Td(f"{s.at:%Y-%m-%d %H:%M:%S}" if s.at else "?")])
            for s in h.stages
        ]
        quarantine = {f"warehouse {k}": v for k, v in h.warehouse_quarantine.items()}
        if h.lake:
            quarantine.update({f"lake {k}": v for k, v in h.lake.quarantined.items()})
        lag = "n/a" if h.change_to_load_lag is None else f"{h.change_to_load_lag.total_seconds():,.0f} s"
        behind = "" if h.runs_behind is None else f" The load is {h.runs_behind} run(s) behind ingestion."
        return html.Div(
            [
                html.P(
                    f"Freshness: {fresh}, {verdict} the {FRESHNESS_TARGET.total_seconds() / 60:.0f}-minute target.",
                    id="health-freshness",
                    style={"color": "green" if h.fresh else "crimson", "fontWeight": "bold"},
                ),
                html.P(
                    f"Change-to-load lag of the last run with facts: {lag}."
                    f" Load runs in the last hour: {h.runs_last_hour}.{behind}"
                ),
                html.Table(rows, id="health-stages"),
                html.P(_summaries_line(h), id="health-summaries"),
                html.P("Lake: " + ("not configured for this app" if lake_status is None else (h.lake_error or "read"))),
                html.H4("Quarantined rows"),
                html.Ul(
                    [html.Li(f"{k}: {v:,}") for k, v in sorted(quarantine.items())] or [html.Li("none")],
                    id="health-quarantine",
                ),
            ]
        )


def _summaries_line(h: Health) -> str:
    """Where the pages' figures stand: the summaries' fold runs after each load (load.summaries)."""
    if h.last_load.run_seq is None:
        return "Summaries: nothing loaded yet."
    if not h.summaries_behind:
        return f"Summaries (the pages' figures): run {h.summaries_run}, current with the load."
    return (
        f"Summaries (the pages' figures): run {h.summaries_run or 'none'}, {h.summaries_behind} run(s) behind"
        " the load: their fold follows each load (or the fold schedule; `totes fold-summaries` by hand)."
    )


def _sales_layout(con: pg8000.native.Connection) -> html.Div:
    return html.Div(
        [
            html.H3(PAGES["/"]),
            _filters("sales", con, ("counterparty", "design", "staff")),
            html.P(id="sales-headline", style={"fontWeight": "bold"}),
            dcc.Loading(
                html.Div(
                    [
                        _graph("sales-by-month", "99%"),
                        _graph("sales-by-currency"),
                        _graph("sales-designs"),
                        _graph("sales-counterparties"),
                        _graph("sales-staff"),
                        _graph("sales-departments"),
                        _graph("sales-countries"),
                        _graph("sales-cities"),
                    ]
                )
            ),
        ]
    )


def _purchases_layout(con: pg8000.native.Connection) -> html.Div:
    return html.Div(
        [
            html.H3(PAGES["/purchases"]),
            _filters("purchases", con, ("counterparty",)),
            html.P(id="purchases-headline", style={"fontWeight": "bold"}),
            _graph("purchases-over-time", "99%"),
            _graph("purchases-paid"),
            _graph("purchases-types"),
            html.H4("Counterparties with outstanding (unpaid) payments"),
            html.Div(id="purchases-outstanding"),
        ]
    )


def _history_layout() -> html.Div:
    return html.Div(
        [
            html.H3(PAGES["/history"]),
            html.Label("Sales order id ", htmlFor="history-order"),
            dcc.Input(id="history-order", type="number", min=1, debounce=True),
            html.Div(id="history-body"),
        ]
    )
