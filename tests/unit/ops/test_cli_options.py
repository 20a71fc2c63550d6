"""Command-line values are checked by the parser, before any server starts or connection opens."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from cli.main import app


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        (["run-local", "--scale", "-1"], "'--scale': Input should be greater than or equal to 0.01"),
        (["run-local", "--scale", "0"], "'--scale': Input should be greater than or equal to 0.01"),
        (["seed", "--scale", "5000"], "'--scale': Input should be less than or equal to 1000"),
        (["run", "--interval", "0"], "'--interval': Input should be greater than or equal to 1"),
    ],
)
def test_an_option_out_of_range_is_refused_naming_it_and_its_range(args: list[str], shown: str) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert f"Invalid value for {shown}" in " ".join(result.output.replace("│", " ").split())
