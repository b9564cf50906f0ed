import sys

from speakup.cli import main

sys.exit(main())
