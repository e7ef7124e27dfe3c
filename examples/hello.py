"""The first script to run on RGrid: says hello from wherever it runs."""
import platform

print(f"Hello from RGrid! Python {platform.python_version()} on {platform.system()}")
