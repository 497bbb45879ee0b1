import sys

from kaskada.cli import main

sys.exit(main())
