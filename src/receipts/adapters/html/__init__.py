"""Self-contained HTML views (inline CSS and JS, images as data URIs, no requests), from the
Jinja templates in `templates/`: every value a template prints is escaped."""

from jinja2 import Environment, PackageLoader, StrictUndefined

PAGES = Environment(
    loader=PackageLoader(__name__),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
