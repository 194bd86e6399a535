"""The chat UI's parts, each testable without a server: HTML rendering (render.py). app.py composes them
into the Gradio app."""
