"""Command-line interface (``se-mamba``)."""
