"""The ``totes`` command line (Typer): operate the pipeline locally or against AWS."""
