#!/bin/sh
# A runner that prints a banner on stdout before speaking the protocol.
echo "Welcome to the runner!"
while read -r line; do :; done
