#!/usr/bin/python3
"""onnx.checker.check_model(model, full_check=True) on each file named on the command line.

Prints one line per file: "ok PATH" or "FAIL PATH: <first line of the checker's message>".
Exit status: 0 when every file passes, 1 when one fails, 3 when the onnx package is missing
(callers skip rather than fail). Full check includes ONNX shape inference with strict mode.
"""

import sys

try:
    import onnx
    import onnx.checker
except ImportError:
    print("python onnx package is not installed", file=sys.stderr)
    sys.exit(3)


def main(paths):
    failed = 0
    for path in paths:
        try:
            model = onnx.load(path)
            onnx.checker.check_model(model, full_check=True)
            print(f"ok {path}")
        except Exception as e:  # the checker raises several exception types
            failed += 1
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            print(f"FAIL {path}: {first}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
