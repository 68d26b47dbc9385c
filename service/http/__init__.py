"""The HTTP side: the user API and pages, the operator API and dashboard, the server plumbing."""
