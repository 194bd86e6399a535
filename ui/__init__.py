"""The chat UI's parts, each testable without a server: the chat (chat.py), the status line and start-up ingest
(status.py), uploads (upload.py), the `/ask` and `/documents` API (api.py) and the HTML (render.py). app.py
lays out the Gradio page and wires its events to them; nothing here imports app."""
