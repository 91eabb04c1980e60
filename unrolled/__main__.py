"""`python -m unrolled ...` runs the command line."""

from unrolled.cli.main import main

raise SystemExit(main())
