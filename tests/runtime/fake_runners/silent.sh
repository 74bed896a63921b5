#!/bin/sh
# A runner that reads requests and never answers (its stdout stays open).
while read -r line; do :; done
