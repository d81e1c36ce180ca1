"""`python -m docusign_input` is the same program as `docusign-input`."""

import sys

from .cli import main

sys.exit(main())
