"""The command line behind ``python starter.py``: one module per concern, joined in starter.py."""
