#!/bin/sh
# A runner that dies before reading anything.
echo "crash_on_start: cannot initialise" >&2
exit 7
