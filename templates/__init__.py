"""Email templates (Jinja), shipped inside the package as ``workflow.templates``.

This file only lets pyproject map this folder into the package, in editable installs too.
Edit the templates beside it, or copy them elsewhere and set ``templates_dir`` in config.toml.
"""
