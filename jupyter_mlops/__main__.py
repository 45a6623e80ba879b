"""``python -m jupyter_mlops`` is ``jupyter mlops``."""

import sys

from jupyter_mlops.cli import main

sys.exit(main())
