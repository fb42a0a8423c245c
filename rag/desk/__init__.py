"""The human half of Relais: conversations, the queue and its agents, stored in SQLite or PostgreSQL, pushed live.

desk.py (the policy the UI and API talk to) composes conversations.py, queue.py, presence.py, tickets.py,
feedback.py, knowledge.py, metrics.py, outcomes.py (how each conversation ended), gaps.py (what the bot missed) and
evalcases.py (eval cases made from the desk), which own their SQL; database.py and migrations.py are the storage
layer, events.py the live updates; api.py, auth.py, guards.py and chat_view.py face the web.
"""

from .conversations import Conversation, DuplicateMessage, Message
from .database import Database
from .desk import Desk, Status, Turn, answer_dict, answer_from_dict, display_text

__all__ = ["Conversation", "Database", "Desk", "DuplicateMessage", "Message", "Status", "Turn", "answer_dict",
           "answer_from_dict", "display_text"]
