"""The imperative verbs, libcgroup's tools under one command: exec, classify (and, next,
create, delete, set, get, list). exec and classify run without argparse, structlog or
the config parser when the validated config cache is current: they start often."""
