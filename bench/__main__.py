import os
import sys

# The database is chosen before anything reads it: --quick runs on its own smaller one.
if "--quick" in sys.argv[1:]:
    os.environ.setdefault("BENCH_DB", "phones_bench_quick")

from bench.run import main

sys.exit(main())
