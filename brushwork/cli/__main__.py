"""`python -m brushwork.cli`: the same as the `brushwork` command."""
from . import main

main()
