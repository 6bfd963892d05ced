"""SavedModel export (saved_model.py), loading with the ops first
(loading.py) and a TF Serving-compatible REST server (server.py).

``detect.load_exported(path)`` is ``detect.export.loading.load_exported``.
"""
