from __future__ import annotations

import sys

from keypin_admin.cli import main

sys.exit(main())
