"""keypin's operator CLI: bootstrap a stage, manage signing keys, add users.

Not deployed to Lambda. Run it as `python -m keypin_admin --help`.
"""
