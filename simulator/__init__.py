"""The Sinch and Plivo provider simulator (a Django app only for its management commands; see README.md).

The server modules are plain Python: they import nothing from the project's other apps.
"""
