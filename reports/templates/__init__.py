"""Jinja2 templates of the HTML report, shipped in the package as recon.templates."""
