"""`python -m devtools.localhost`: the local function host until SIGINT/SIGTERM."""

import sys

from devtools.localhost.host import main

sys.exit(main())
