"""``python -m guidelinekg``: the same command line as the ``guidelinekg`` script."""

import sys

from guidelinekg.cli import main

sys.exit(main())
