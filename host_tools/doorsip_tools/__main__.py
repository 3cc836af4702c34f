"""`python -m doorsip_tools` runs the `doorsip` command."""
import sys

from doorsip_tools.cli import main

sys.exit(main())
