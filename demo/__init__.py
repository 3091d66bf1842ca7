"""The one-command demo: a case of every lifecycle, driven through Temporal as a service would."""
