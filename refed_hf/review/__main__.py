"""`python -m refed_hf.review RELEASE`: see `refed_hf.review.command`."""

import sys

from .command import main

if __name__ == "__main__":
    sys.exit(main())
