"""Exit codes of every command, after driftctl: 0 nothing wrong, 1 drift found, 2 error."""

EXIT_OK, EXIT_DRIFT, EXIT_ERROR = 0, 1, 2
