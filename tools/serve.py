#!/usr/bin/env python
"""Serves an export over HTTP with TensorFlow Serving's REST predict API.

The command lives in the library (detect/cli/serve.py);
``--help`` lists its options.
"""
import sys

from detect.cli.serve import main

if __name__ == "__main__":
    sys.exit(main())
