"""``python -m trtllm_redrafter.cli`` (and ``torchrun -m trtllm_redrafter.cli``)."""

import sys

from trtllm_redrafter.cli import main

sys.exit(main())
