"""A visual report of the warehouse: business questions answered by SQL, as one HTML file.

Each chart is a question (``Chart``): a SQL query on the star schema and how to draw
its answer. Facts keep history, so the sales/purchase/payment questions use the
*current* version of each order or payment (the latest ``last_updated``), the way an
analyst would. Money stays per currency: converting would need rates the warehouse
does not hold. The PNGs are embedded base64, so the file can be opened or mailed alone.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: render to files only
import matplotlib.pyplot as plt
import pg8000.native

# The current version of each fact row (facts keep every version; SPEC §2), as
# session-local views so every question below reads like plain SQL.
CURRENT_VIEWS = (
    "CREATE TEMP VIEW cur_sales AS SELECT DISTINCT ON (sales_order_id) * FROM fact_sales_order"
    " ORDER BY sales_order_id, last_updated_date DESC, last_updated_time DESC, sales_record_id DESC",
    "CREATE TEMP VIEW cur_purchases AS SELECT DISTINCT ON (purchase_order_id) * FROM fact_purchase_order"
    " ORDER BY purchase_order_id, last_updated_date DESC, last_updated_time DESC, purchase_record_id DESC",
    "CREATE TEMP VIEW cur_payments AS SELECT DISTINCT ON (payment_id) * FROM fact_payment"
    " ORDER BY payment_id, last_updated_date DESC, last_updated_time DESC, payment_record_id DESC",
)


@dataclass(frozen=True)
class Chart:
    """One business question: its SQL (columns: label, series, value) and how to draw it."""

    title: str
    question: str
    sql: str
    kind: str  # "line" | "bar" | "barh"
    value_label: str


CHARTS: tuple[Chart, ...] = (
    Chart(
        "Sales value by month",
        "How much did we sell each month (agreed value, by currency)?",
        "SELECT to_char(d.date_id, 'YYYY-MM'), c.currency_code, sum(s.units_sold * s.unit_price)"
        " FROM cur_sales s JOIN dim_date d ON d.date_id = s.created_date"
        " JOIN dim_currency c USING (currency_id) GROUP BY 1, 2 ORDER BY 1, 2",
        "line",
        "sales value",
    ),
    Chart(
        "Sales by currency",
        "Which currencies do our sales come in?",
        "SELECT c.currency_code || ' (' || c.currency_name || ')', 'orders', count(*)"
        " FROM cur_sales s JOIN dim_currency c USING (currency_id) GROUP BY 1 ORDER BY 3 DESC",
        "bar",
        "sales orders",
    ),
    Chart(
        "Top 10 designs by units sold",
        "Which designs sell best?",
        "SELECT g.design_name || ' #' || g.design_id, 'units', sum(s.units_sold)"
        " FROM cur_sales s JOIN dim_design g USING (design_id) GROUP BY 1 ORDER BY 3 DESC, 1 LIMIT 10",
        "barh",
        "units sold",
    ),
    Chart(
        "Top 10 counterparties by sales value",
        "Who are our biggest customers (most orders; value per currency)?",
        "WITH v AS (SELECT p.counterparty_legal_name AS name, c.currency_code AS cur,"
        " sum(s.units_sold * s.unit_price) AS value"
        " FROM cur_sales s JOIN dim_counterparty p USING (counterparty_id)"
        " JOIN dim_currency c USING (currency_id) GROUP BY 1, 2),"
        " top AS (SELECT p.counterparty_legal_name AS name FROM cur_sales s"
        " JOIN dim_counterparty p USING (counterparty_id) GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 10)"
        " SELECT name, cur, value FROM v WHERE name IN (SELECT name FROM top) ORDER BY name, cur",
        "barh",
        "sales value",
    ),
    Chart(
        "Purchases vs payments by month, per currency",
        "Is what we order from suppliers in line with what we pay out?",
        "SELECT m, kind, sum(v) FROM ("
        " SELECT to_char(p.created_date, 'YYYY-MM') AS m, 'purchase orders ' || c.currency_code AS kind,"
        " p.item_quantity * p.item_unit_price AS v"
        " FROM cur_purchases p JOIN dim_currency c USING (currency_id)"
        " UNION ALL SELECT to_char(y.payment_date, 'YYYY-MM'), 'payments made ' || c.currency_code, y.payment_amount"
        " FROM cur_payments y JOIN dim_payment_type t USING (payment_type_id) JOIN dim_currency c USING (currency_id)"
        " WHERE t.payment_type_name = 'PURCHASE_PAYMENT') x GROUP BY 1, 2 ORDER BY 1, 2",
        "line",
        "value (each line in its own currency)",
    ),
    Chart(
        "Sales by staff location",
        "Which offices sell the most?",
        "SELECT st.location, 'units', sum(s.units_sold)"
        " FROM cur_sales s JOIN dim_staff st ON st.staff_id = s.sales_staff_id GROUP BY 1 ORDER BY 3 DESC",
        "bar",
        "units sold",
    ),
    Chart(
        "Payments by type and status",
        "How much money is received, refunded or paid, and how much is still unpaid?",
        "SELECT t.payment_type_name, CASE WHEN y.paid THEN 'paid ' ELSE 'unpaid ' END || c.currency_code,"
        " sum(y.payment_amount)"
        " FROM cur_payments y JOIN dim_payment_type t USING (payment_type_id) JOIN dim_currency c USING (currency_id)"
        " GROUP BY 1, 2 ORDER BY 1, 2",
        "bar",
        "amount (each bar in its own currency)",
    ),
)

HEADLINE_SQL = {
    "Sales orders (current)": "SELECT count(*) FROM cur_sales",
    "Sales order versions": "SELECT count(*) FROM fact_sales_order",
    "Purchase orders (current)": "SELECT count(*) FROM cur_purchases",
    "Payments (current)": "SELECT count(*) FROM cur_payments",
    "Counterparties": "SELECT count(*) FROM dim_counterparty",
    "Designs": "SELECT count(*) FROM dim_design",
    "Staff": "SELECT count(*) FROM dim_staff",
}


def _number(value: Any) -> float:
    # Plotting only: the exact Decimal values are what the tables below show.
    return float(value) if isinstance(value, Decimal | int | float) else 0.0


def pivot(rows: Sequence[Sequence[Any]]) -> tuple[list[str], dict[str, list[float]]]:
    """Turn (label, series, value) rows into labels and one value list per series."""
    labels = list(dict.fromkeys(str(r[0]) for r in rows))
    series: dict[str, list[float]] = {}
    index = {label: i for i, label in enumerate(labels)}
    for label, name, value in rows:
        series.setdefault(str(name), [0.0] * len(labels))[index[str(label)]] += _number(value)
    return labels, series


def _printable(label: str, width: int = 40) -> str:
    # Source text can hold tabs, newlines or emoji the chart font lacks; the HTML table
    # below the chart shows the exact value.
    clean = "".join(ch if ch.isprintable() and ord(ch) < 0x2500 else " " for ch in label).strip()
    return clean if len(clean) <= width else clean[: width - 1] + "…"


def render_chart(chart: Chart, rows: Sequence[Sequence[Any]]) -> str:
    """Draw one chart; return it as a base64 PNG."""
    fig, ax = plt.subplots(figsize=(9, 4.2), dpi=100)
    labels, series = pivot(rows)
    labels = [_printable(label) for label in labels]
    if not labels:
        ax.text(0.5, 0.5, "no data yet", ha="center", va="center", fontsize=14, color="grey")
        ax.set_axis_off()
    elif chart.kind == "line":
        for name, values in series.items():
            ax.plot(labels, values, marker="o", markersize=3, label=name)
        ax.set_ylabel(chart.value_label)
        step = max(1, len(labels) // 12)
        ax.set_xticks(range(0, len(labels), step), labels[::step], rotation=45, ha="right")
    else:
        positions = list(range(len(labels)))
        width = 0.8 / max(1, len(series))
        for i, (name, values) in enumerate(series.items()):
            offsets = [p + (i - (len(series) - 1) / 2) * width for p in positions]
            if chart.kind == "barh":
                ax.barh(offsets, values, height=width, label=name)
            else:
                ax.bar(offsets, values, width=width, label=name)
        if chart.kind == "barh":
            ax.set_yticks(positions, labels)
            ax.invert_yaxis()
            ax.set_xlabel(chart.value_label)
        else:
            ax.set_xticks(positions, labels, rotation=20, ha="right")
            ax.set_ylabel(chart.value_label)
    if len(series) > 1:
        ax.legend(fontsize=8)
    ax.set_title(chart.title)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _table_html(rows: Sequence[Sequence[Any]], limit: int = 12) -> str:
    cells = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in rows[:limit])
    more = f"<p class='more'>… {len(rows) - limit} more rows</p>" if len(rows) > limit else ""
    return f"<table><tr><th>label</th><th>series</th><th>value</th></tr>{cells}</table>{more}"


def build_report(warehouse: pg8000.native.Connection, *, title: str = "Terrific Totes warehouse") -> str:
    """Run every chart's query and return the self-contained HTML page."""
    warehouse.run("BEGIN")  # the temp views live only as long as this transaction
    try:
        for view in CURRENT_VIEWS:
            warehouse.run(view)
        page = _build(warehouse, title)
    finally:
        warehouse.run("ROLLBACK")
    return page


def _build(warehouse: pg8000.native.Connection, title: str) -> str:
    headline = {name: warehouse.run(sql)[0][0] for name, sql in HEADLINE_SQL.items()}
    sections = []
    for chart in CHARTS:
        rows = warehouse.run(chart.sql)
        png = render_chart(chart, rows)
        sections.append(
            f"<section><h2>{html.escape(chart.title)}</h2><p class='q'>{html.escape(chart.question)}</p>"
            f"<img alt='{html.escape(chart.title)}' src='data:image/png;base64,{png}'/>"
            f"<details><summary>data</summary>{_table_html(rows)}</details></section>"
        )
    stats = "".join(f"<li><b>{v}</b> {html.escape(k)}</li>" for k, v in headline.items())
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    style = (
        "body{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto;color:#222}"
        "ul.stats{display:flex;flex-wrap:wrap;gap:1.5em;list-style:none;padding:0}"
        "section{margin:2em 0}img{max-width:100%}p.q{color:#555;font-style:italic}"
        "table{border-collapse:collapse;font-size:.85em}td,th{border:1px solid #ddd;padding:2px 6px}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{style}</style></head><body><h1>{html.escape(title)}</h1>"
        f"<p>Generated {generated} from the warehouse star schema (current version of each fact row).</p>"
        f"<ul class='stats'>{stats}</ul>{''.join(sections)}</body></html>"
    )


def write_report(warehouse: pg8000.native.Connection, out_dir: Path) -> Path:
    """Write ``warehouse-report.html`` under ``out_dir``; return its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "warehouse-report.html"
    path.write_text(build_report(warehouse), encoding="utf-8")
    return path
