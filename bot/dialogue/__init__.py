"""The conversation, independent of any transport: commands, state and replies as structured objects."""

from bot.dialogue.core import Dialogue, Incoming
from bot.dialogue.replies import Block, Button, Reply

__all__ = ["Block", "Button", "Dialogue", "Incoming", "Reply"]
