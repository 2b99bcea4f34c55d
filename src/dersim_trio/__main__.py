"""``python -m dersim_trio``: the same as the ``dersim-trio`` command."""

from dersim_trio.cli import main

raise SystemExit(main())
