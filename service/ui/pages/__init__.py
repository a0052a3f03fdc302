"""The dashboard's pages, one module per area; service.ui.router includes them."""
