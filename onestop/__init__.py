"""onestop: an open engine for one-stop government services."""

import sys
import types

__version__ = "0.1.0"

# The `cel` package's __init__ imports its command-line interface (typer, rich, prompt_toolkit): a third of the
# start-up of every onestop process, `onestop validate` included, for a module nothing here uses. An empty module
# stands in for it; a program that imported the real one first keeps it.
sys.modules.setdefault("cel.cli", types.ModuleType("cel.cli"))
