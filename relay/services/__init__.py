"""The domain: every rule and every state change of Relay lives here.

Services take the database session and the acting person as arguments,
check the rule, change state, write the audit entry and queue any notice,
then commit: all in one transaction, or nothing.
"""
