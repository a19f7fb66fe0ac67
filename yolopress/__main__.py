"""``python -m yolopress``: the same as the ``yolopress`` command."""

import sys

from yolopress.cli import main

sys.exit(main())
