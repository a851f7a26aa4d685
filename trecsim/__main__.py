"""``python -m trecsim``: see trecsim.cli."""

import sys

from trecsim.cli import main

sys.exit(main())
