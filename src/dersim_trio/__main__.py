"""``python -m dersim_trio``: the same as the ``dersim-trio`` command."""

from .cli import main

raise SystemExit(main())
