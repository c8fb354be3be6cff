"""``python -m saliencykit.cli``: the ``saliencykit`` command."""

from . import main

main()
