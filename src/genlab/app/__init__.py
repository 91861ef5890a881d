"""The explorer web app: `library` (the runs it may open and every operation, no web code) and
`explorer` (the gradio page; importing it imports gradio)."""
