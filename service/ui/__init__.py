"""The dashboard: server-rendered pages with SVG charts at /ui."""
