"""The command-line programs behind tools/*.py, as library modules: each has
a ``main`` that returns the exit status (``main(argv=None)``; convert.py's
also takes the dataset kind). tools/<name>.py only calls it, so tools import
the library and never one another.

A module that runs TensorFlow calls ``detect.tf_env.set_defaults()`` before
importing it; a caller that wants other settings (tools/quickstart.py asks
for oneDNN) calls set_defaults first.
"""
