"""Flows that write the app's rows and push their jobs in one transaction.

They sit above both the domain (rows) and the tasks (jobs), so that neither imports the other.
"""
