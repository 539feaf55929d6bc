"""The `saescope` command line: a thin layer over the Python API.

One module per stage (`sae`, `data`, `interpret`, `curate`, `viz`, `tune`, `demo`); each
defines `register(app)` and adds its commands. `main` turns `SaescopeError` into a one-line
message and exit code 2.
"""
