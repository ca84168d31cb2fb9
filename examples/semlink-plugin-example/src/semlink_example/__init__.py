"""An example semlink plug-in (see docs/EXTENDING.md): the ``repetition`` system type and the ``shapes`` dataset.

Installed, its entry points make both known to semlink. Without installing it, a run config can name
it instead: ``plugins = ["semlink_example"]`` imports this package, which registers both from code.
"""

from semlink_example.repetition import RepetitionSpec
from semlink_example.shapes import load_shapes

__all__ = ["RepetitionSpec", "load_shapes"]
