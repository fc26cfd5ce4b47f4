"""``python -m treestore`` runs the command-line client (see treestore.cli)."""

import sys

from .cli import main

sys.exit(main())
