"""``python -m finance_assets.cli``: the same as the ``finance-assets`` command."""

import sys

from finance_assets.cli import main

sys.exit(main())
