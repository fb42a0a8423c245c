"""The HTTP API's routers, one per concern; rag/desk/api.py composes them behind the guards.

- chat.py: the user's chat and conversations (ask, stream a turn, hand off, feedback, ticket, poll)
- streams.py: server-sent events pushed as things happen (a conversation's messages, the console's changes)
- console.py: the agent console's API (sign-in, queue, claim, reply, close, knowledge)
- admin.py: health and metrics
- loop.py: the loop that learns from the desk (the user's "yes", the resolution rate and its CSV, content gaps, eval
  cases, knowledge entries: list, edit, retire)
- static.py: the console and the widget files
- common.py: what they share (errors, the signed-in agent, the user's view of an answer, SSE framing)
"""
