"""The command line: one thin module per command; app.py wires them."""
