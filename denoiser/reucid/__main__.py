"""``python -m denoiser.reucid denoise IN -o OUT.tif``."""
import sys

from .cli import main

sys.exit(main())
