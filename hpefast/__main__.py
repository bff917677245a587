import sys

from hpefast.cli import main

sys.exit(main())
