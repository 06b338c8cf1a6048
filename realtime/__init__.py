"""The dojo service: live coding sessions, and the sandbox that runs their code."""
