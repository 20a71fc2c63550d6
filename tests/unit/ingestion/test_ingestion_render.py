"""JSON string escaping of Arrow text, as PostgreSQL's escape_json does it."""

from __future__ import annotations

import json

import pyarrow as pa

from ingestion.render import escape_json

ESCAPED = {
    'say "hi"': 'say \\"hi\\"',
    "back\\slash": "back\\\\slash",
    "\b\f\n\r\t": "\\b\\f\\n\\r\\t",
    "\x01\x1f": "\\u0001\\u001f",
    "DEL \x7f and é漢🛍️ stay": "DEL \x7f and é漢🛍️ stay",
}


def test_escapes_what_json_forbids_and_nothing_else() -> None:
    out = escape_json(pa.array([*ESCAPED, None])).to_pylist()
    assert out == [*ESCAPED.values(), None]
    for raw, escaped in ESCAPED.items():
        assert json.loads(f'"{escaped}"') == raw


def test_a_slice_is_escaped_by_its_own_values() -> None:
    values = pa.array(['a "quoted" one', "plain", "text", 'another "one"'])
    assert escape_json(values.slice(1, 2)).to_pylist() == ["plain", "text"]
    assert escape_json(values.slice(2, 2)).to_pylist() == ["text", 'another \\"one\\"']
    assert escape_json(values.slice(0, 0)).to_pylist() == []
