"""The application's own domain: users, uploads, email. Built on the jobs engine."""
