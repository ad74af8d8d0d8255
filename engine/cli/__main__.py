"""``python -m engine.cli``: the same as ``huzhu``."""

import sys

from engine.cli import main

sys.exit(main())
