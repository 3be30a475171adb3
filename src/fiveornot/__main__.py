"""`python -m fiveornot` runs the command line."""

from fiveornot.cli import app

app(prog_name="fiveornot")
