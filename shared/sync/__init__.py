"""The scheduled sync: settings checks that need Dynamics' metadata, what a settings change starts."""
